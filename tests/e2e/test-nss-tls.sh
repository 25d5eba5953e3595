#!/usr/bin/env bash
# TLS client authentication through NSS (what Firefox does with the card): NSS's `tstclnt` with
# the authentication certificate on the card against `openssl s_server -Verify 1` trusting the
# test authentication CA, on loopback in a private network namespace. Each connection: a fresh
# server and a fresh run of the virtual card; the module's per-user cache (where the RSA-PSS
# proof of issue 12 is remembered) is one folder per card kind, under the default `pss = auto`.
#
# A card without RSA-PSS (jpki-vcard's default: COMPUTE DIGITAL SIGNATURE P1 04 answers 6A86):
# - TLS 1.2: the server receives and verifies the card's certificate; NSS signs with PKCS#1
#   v1.5; one VERIFY of the 4-digit PIN, one signature. The first login also runs the module's
#   proof: one P1 04 (no PIN sent again), refused with 6A86; the next process (here the browser
#   profile: named firefox, the auth slot only) sends no P1 04 at all: the "no" is remembered.
# - `pkcs11-tool -M` on the auth token lists no RSA-PSS mechanism.
# - TLS 1.3 needs RSA-PSS for client certificates: NSS sends no certificate and the handshake
#   fails on a server that requires one. No PIN is asked for and the card gets no signature.
# - The sign password in the pin file: refused by the auth token's format check, never sent.
# A card with RSA-PSS (jpki-vcard --pss):
# - `JPKI_PKCS11_PSS=off`: TLS 1.2 works with PKCS#1 v1.5, no P1 04 is ever sent, no RSA-PSS
#   listed, TLS 1.3 fails as above.
# - auto, proven by an earlier login (a TLS 1.2 login: one P1 04 answered 9000 besides its own
#   signature): the next process sees RSA-PSS listed, and tstclnt logs in to a TLS 1.3-only
#   server (`-tls1_3`): RSA-PSS with SHA-256, the certificate verified, one VERIFY, one
#   signature, P1 04.
# - auto, proven by `jpki pss probe` (the PIN on stdin): the same TLS 1.3 login.
source "$(dirname "$0")/lib-nss.sh"
need certutil libnss3-tools
need tstclnt libnss3-tools
need pkcs11-tool opensc
need openssl openssl
e2e_enter_netns "$@"
e2e_setup

db=$work/nssdb
nss_new_db "$db"
make_server_cert
auth_cn=$(cert_cn auth)
mkdir -p "$work/bin"
ln -s "$(command -v tstclnt)" "$work/bin/firefox"

# handshake CASE PROGRAM PINFILE VERSIONS [jpki-vcard options] [-- s_server options]: one
# connection to a fresh server; outputs in $work/CASE.{server,client}, the card's trace in
# $work/CASE.trace.
handshake() {
    local name=$1 prog=$2 pinfile=$3 versions=$4
    shift 4
    local card=() server=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do card+=("$1"); shift; done
    [ $# -gt 0 ] && { shift; server=("$@"); }
    reset_trace
    start_s_server "$name" -naccept 1 ${server[@]+"${server[@]}"}
    in_vcard ${card[@]+"${card[@]}"} -- setsid -w timeout -k 5 "$E2E_CLIENT_TIMEOUT" "$prog" \
        -h 127.0.0.1 -p "$port" -d "sql:$db" -n "$AUTH_NICK" -W "$pinfile" -o -Q -V "$versions" \
        </dev/null >"$work/$name.client" 2>&1
    echo "client exit $?" >>"$work/$name.client"
    stop_s_server
    cp "$work/trace" "$work/$name.trace"
    echo "==== $name: server"; cat "$work/$name.out"
    echo "==== $name: client"; cat "$work/$name.client"
    echo "==== $name: PIN VERIFYs"; pin_verifies "$work/$name.trace"
    echo "==== $name: signatures: P1 00 $(card_signatures "$work/$name.trace"), P1 04 $(card_pss_signatures "$work/$name.trace")"
}
server_has() { grep -qF -- "$2" "$work/$1.out" || fail "$1: the server did not report '$2'"; }
# verified CASE SIGTYPE: the server got, verified and used the card's authentication certificate,
# the CertificateVerify signed as SIGTYPE (RSA: PKCS#1 v1.5; RSA-PSS) with SHA-256; one VERIFY.
verified() {
    server_has "$1" "subject=C = JP, CN = $auth_cn"
    server_has "$1" 'issuer=C = JP, O = JPKI-TEST, OU = JPKI for user authentication'
    grep -q '^depth=0 C = JP, CN = '"$auth_cn" "$work/$1.out" || fail "$1: server did not verify the client certificate"
    ! grep -q '^verify error' "$work/$1.out" || fail "$1: the client certificate did not verify"
    grep -qx "Peer signature type: $2" "$work/$1.out" || fail "$1: the client did not sign with $2"
    server_has "$1" 'Peer signing digest: SHA256'
    [ "$(pin_verifies "$work/$1.trace")" = '0018 04 9000' ] || fail "$1: expected one VERIFY of the auth PIN"
}
# accepted CASE: TLS 1.2 with PKCS#1 v1.5, one signature by the card.
accepted() {
    verified "$1" RSA
    [ "$(card_signatures "$work/$1.trace")" = 1 ] || fail "$1: expected one PKCS#1 v1.5 signature by the card"
}
# refused13 CASE: TLS 1.3 without RSA-PSS: no certificate, no PIN, nothing signed.
refused13() {
    server_has "$1" 'peer did not return a certificate'
    [ -z "$(pin_verifies "$work/$1.trace")" ] || fail "$1: a PIN was sent although no signature could follow"
    [ "$(card_signatures "$work/$1.trace")" = 0 ] || fail "$1: the card signed (PKCS#1 v1.5)"
    [ "$(card_pss_signatures "$work/$1.trace")" = 0 ] || fail "$1: the card got a P1 04 signature command"
}
# mechanisms CASE [jpki-vcard options]: pkcs11-tool -M on the auth token into $work/CASE.mech.
mechanisms() {
    local name=$1; shift
    reset_trace
    auth_mechanisms "$@" >"$work/$name.mech" 2>&1 || { cat "$work/$name.mech"; fail "$name: pkcs11-tool -M failed"; }
    echo "==== $name: mechanisms"; cat "$work/$name.mech"
    grep -q '^ *RSA-PKCS,' "$work/$name.mech" || fail "$name: pkcs11-tool -M shows no RSA-PKCS (wrong token?)"
    [ "$(card_pss_signatures)" = 0 ] || fail "$name: listing mechanisms sent a P1 04 signature command"
}
lists_pss() {
    grep -q '^ *RSA-PKCS-PSS' "$work/$1.mech" || fail "$1: CKM_RSA_PKCS_PSS not listed"
    grep -q '^ *SHA256-RSA-PKCS-PSS' "$work/$1.mech" || fail "$1: CKM_SHA256_RSA_PKCS_PSS not listed"
}
no_pss() { ! grep -q 'PSS' "$work/$1.mech" || fail "$1: an RSA-PSS mechanism is listed"; }

# ---- A card without RSA-PSS.
use_cache plain
handshake tls12 tstclnt "$work/pin-auth" tls1.2:tls1.2
accepted tls12
[ "$(card_pss_signatures "$work/tls12.trace" 6A86)/$(card_pss_signatures "$work/tls12.trace")" = 1/1 ] ||
    fail "tls12: expected the module's proof after the first login: exactly one P1 04, refused with 6A86"
handshake tls12-firefox "$work/bin/firefox" "$work/pin-auth" tls1.2:tls1.2
accepted tls12-firefox
! grep -q '^00A4020C02001B' "$work/tls12-firefox.trace" || fail "tls12-firefox: the sign token was touched"
[ "$(card_pss_signatures "$work/tls12-firefox.trace")" = 0 ] ||
    fail "tls12-firefox: the card was asked for RSA-PSS again although it refused before"
mechanisms plain-mechanisms
no_pss plain-mechanisms
handshake tls13 tstclnt "$work/pin-auth" tls1.3:tls1.3 -- -tls1_3
refused13 tls13
handshake tls12-signpin tstclnt "$work/pin-sign" tls1.2:tls1.2
! grep -qF "subject=C = JP, CN = $auth_cn" "$work/tls12-signpin.out" ||
    fail "tls12-signpin: a handshake with the wrong PIN presented the certificate"
[ -z "$(pin_verifies "$work/tls12-signpin.trace")" ] || fail "tls12-signpin: the sign password was sent to the card"
[ "$(card_signatures "$work/tls12-signpin.trace")" = 0 ] || fail "tls12-signpin: the card signed"
[ "$(card_pss_signatures "$work/tls12-signpin.trace")" = 0 ] || fail "tls12-signpin: a P1 04 went to the card"

# ---- A card with RSA-PSS, the setting off.
use_cache off
export JPKI_PKCS11_PSS=off
handshake off-tls12 tstclnt "$work/pin-auth" tls1.2:tls1.2 --pss
accepted off-tls12
[ "$(card_pss_signatures "$work/off-tls12.trace")" = 0 ] || fail "off-tls12: a P1 04 went to the card under pss=off"
mechanisms off-mechanisms --pss
no_pss off-mechanisms
handshake off-tls13 tstclnt "$work/pin-auth" tls1.3:tls1.3 --pss -- -tls1_3
refused13 off-tls13
unset JPKI_PKCS11_PSS

# ---- A card with RSA-PSS, proven by a first login (auto).
use_cache auto
handshake pss-first-login tstclnt "$work/pin-auth" tls1.2:tls1.2 --pss
# NSS read the token's mechanisms before this login: it still signs PKCS#1 v1.5 here.
accepted pss-first-login
[ "$(card_pss_signatures "$work/pss-first-login.trace" 9000)/$(card_pss_signatures "$work/pss-first-login.trace")" = 1/1 ] ||
    fail "pss-first-login: expected the module's proof after the first login: exactly one P1 04, answered 9000"
mechanisms pss-mechanisms --pss
lists_pss pss-mechanisms
handshake pss-tls13 tstclnt "$work/pin-auth" tls1.3:tls1.3 --pss -- -tls1_3
verified pss-tls13 RSA-PSS
server_has pss-tls13 'CIPHER is TLS_'    # a TLS 1.3 cipher suite (the server took only 1.3)
[ "$(card_pss_signatures "$work/pss-tls13.trace" 9000)/$(card_pss_signatures "$work/pss-tls13.trace")" = 1/1 ] ||
    fail "pss-tls13: expected exactly one P1 04 command, answered 9000"
[ "$(card_signatures "$work/pss-tls13.trace")" = 0 ] || fail "pss-tls13: a PKCS#1 v1.5 signature too"
grep -q '^802A048020[0-9A-F]\{64\}00 9000$' "$work/pss-tls13.trace" ||
    fail "pss-tls13: the P1 04 command is not 80 2A 04 80 20 <32-byte hash> 00"

# ---- A card with RSA-PSS, proven by `jpki pss probe`.
prove_pss_by_probe
handshake probe-tls13 tstclnt "$work/pin-auth" tls1.3:tls1.3 --pss -- -tls1_3
verified probe-tls13 RSA-PSS
[ "$(card_pss_signatures "$work/probe-tls13.trace" 9000)" = 1 ] || fail "probe-tls13: expected one P1 04 signature"
[ "$(card_signatures "$work/probe-tls13.trace")" = 0 ] || fail "probe-tls13: a PKCS#1 v1.5 signature too"
echo PASS
