#!/usr/bin/env bash
# TLS client authentication through NSS (what Firefox does with the card): NSS's `tstclnt` with
# the authentication certificate on the card against `openssl s_server -Verify 1` trusting the
# test authentication CA, on loopback in a private network namespace.
# - TLS 1.2: the server receives and verifies the card's certificate; NSS signs with PKCS#1
#   v1.5 (it sees that the token has no RSA-PSS); one VERIFY of the 4-digit PIN, one signature.
#   Also under the browser profile (process named firefox: the auth slot only).
# - TLS 1.3 needs RSA-PSS for client certificates: until the card's PSS is proven and enabled
#   NSS sends no certificate and the handshake fails on a server that requires one. No PIN is
#   asked for and nothing is sent to the card in vain.
# - The sign password in the pin file: refused by the auth token's format check, never sent.
source "$(dirname "$0")/lib-nss.sh"
need certutil libnss3-tools
need tstclnt libnss3-tools
need openssl openssl
e2e_enter_netns "$@"
e2e_setup

db=$work/nssdb
nss_new_db "$db"
make_server_cert
auth_cn=$(cert_cn auth)
mkdir -p "$work/bin"
ln -s "$(command -v tstclnt)" "$work/bin/firefox"

# handshake CASE PROGRAM PINFILE VERSIONS: one connection to a fresh server; outputs in
# $work/CASE.{server,client}, the card's trace in $work/CASE.trace.
handshake() {
    local name=$1 prog=$2 pinfile=$3 versions=$4
    reset_trace
    start_s_server "$name" -naccept 1
    in_vcard -- setsid -w timeout -k 5 "$E2E_CLIENT_TIMEOUT" "$prog" -h 127.0.0.1 -p "$port" \
        -d "sql:$db" -n "$AUTH_NICK" -W "$pinfile" -o -Q -V "$versions" \
        </dev/null >"$work/$name.client" 2>&1
    echo "client exit $?" >>"$work/$name.client"
    stop_s_server
    cp "$work/trace" "$work/$name.trace"
    echo "==== $name: server"; cat "$work/$name.out"
    echo "==== $name: client"; cat "$work/$name.client"
    echo "==== $name: PIN VERIFYs"; pin_verifies "$work/$name.trace"
}
server_has() { grep -qF -- "$2" "$work/$1.out" || fail "$1: the server did not report '$2'"; }
accepted() {  # the server got, verified and used the card's authentication certificate
    server_has "$1" "subject=C = JP, CN = $auth_cn"
    server_has "$1" 'issuer=C = JP, O = JPKI-TEST, OU = JPKI for user authentication'
    grep -q '^depth=0 C = JP, CN = '"$auth_cn" "$work/$1.out" || fail "$1: server did not verify the client certificate"
    ! grep -q '^verify error' "$work/$1.out" || fail "$1: the client certificate did not verify"
    server_has "$1" 'Peer signature type: RSA'    # PKCS#1 v1.5, not RSA-PSS
    server_has "$1" 'Peer signing digest: SHA256'
    [ "$(pin_verifies "$work/$1.trace")" = '0018 04 9000' ] || fail "$1: expected one VERIFY of the auth PIN"
    [ "$(card_signatures "$work/$1.trace")" = 1 ] || fail "$1: expected one signature by the card"
}

handshake tls12 tstclnt "$work/pin-auth" tls1.2:tls1.2
accepted tls12
handshake tls12-firefox "$work/bin/firefox" "$work/pin-auth" tls1.2:tls1.2
accepted tls12-firefox
! grep -q '^00A4020C02001B' "$work/tls12-firefox.trace" || fail "tls12-firefox: the sign token was touched"

handshake tls13 tstclnt "$work/pin-auth" tls1.3:tls1.3
server_has tls13 'peer did not return a certificate'
[ -z "$(pin_verifies "$work/tls13.trace")" ] || fail "tls13: a PIN was sent although no signature could follow"
[ "$(card_signatures "$work/tls13.trace")" = 0 ] || fail "tls13: the card signed"

handshake tls12-signpin tstclnt "$work/pin-sign" tls1.2:tls1.2
! grep -qF "subject=C = JP, CN = $auth_cn" "$work/tls12-signpin.out" ||
    fail "tls12-signpin: a handshake with the wrong PIN presented the certificate"
[ -z "$(pin_verifies "$work/tls12-signpin.trace")" ] || fail "tls12-signpin: the sign password was sent to the card"
[ "$(card_signatures "$work/tls12-signpin.trace")" = 0 ] || fail "tls12-signpin: the card signed"
echo PASS
