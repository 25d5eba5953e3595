#!/usr/bin/env bash
# TLS client authentication with OpenSSL's s_client, the key on the card through Debian's pkcs11
# engine (libp11), the certificate from a file, against `openssl s_server -Verify 1` trusting the
# test authentication CA, on loopback in a private network namespace.
#
# The card signs PKCS#1 v1.5 only (RSA-PSS is not offered until it is proven on the card):
# TLS 1.3 requires RSA-PSS for client certificates, and OpenSSL prefers RSA-PSS in TLS 1.2 too.
# So TLS needs TLS 1.2 and RSA+SHA256: `-tls1_2 -client_sigalgs RSA+SHA256` on the command line,
# or `MaxProtocol = TLSv1.2` + `ClientSignatureAlgorithms = RSA+SHA256` in openssl.cnf. Both
# are shown to work; without them the handshake fails with the module's CKR_MECHANISM_INVALID
# (libp11 asks for RSA-PSS although the token does not list it), and the card never signs.
source "$(dirname "$0")/lib-nss.sh"
need_pkcs11_engine
e2e_enter_netns "$@"
e2e_setup

make_server_cert
auth_cn=$(cert_cn auth)
write_openssl_cnf "$work/plain.cnf" plain
write_openssl_cnf "$work/tls12.cnf" tls12

# connect CASE CNF [s_client options...]: one connection to a fresh server.
connect() {
    local name=$1 cnf=$2; shift 2
    reset_trace
    start_s_server "$name" -naccept 1
    OPENSSL_CONF=$cnf in_vcard -- timeout -k 5 "$E2E_CLIENT_TIMEOUT" openssl s_client \
        -connect "127.0.0.1:$port" -engine pkcs11 -keyform engine \
        -key "$AUTH_KEY_URI?pin-value=$AUTH_PIN" -cert "$pki/auth-cert.pem" "$@" \
        </dev/null >"$work/$name.client" 2>&1
    echo "client exit $?" >>"$work/$name.client"
    stop_s_server
    cp "$work/trace" "$work/$name.trace"
    echo "==== $name: server"; grep -v -E '^[A-Za-z0-9+/=]{60,}$' "$work/$name.out"
    echo "==== $name: client"; grep -v -E '^[A-Za-z0-9+/=]{60,}$' "$work/$name.client"
    echo "==== $name: PIN VERIFYs"; pin_verifies "$work/$name.trace"
}
server_has() { grep -qF -- "$2" "$work/$1.out" || fail "$1: the server did not report '$2'"; }
accepted() {
    server_has "$1" "subject=C = JP, CN = $auth_cn"
    grep -q '^depth=0 C = JP, CN = '"$auth_cn" "$work/$1.out" || fail "$1: server did not verify the client certificate"
    ! grep -q '^verify error' "$work/$1.out" || fail "$1: the client certificate did not verify"
    server_has "$1" 'Peer signature type: RSA'
    server_has "$1" 'Peer signing digest: SHA256'
    grep -q 'Protocol *: TLSv1.2' "$work/$1.client" || fail "$1: not TLS 1.2"
    grep -q '^client exit 0$' "$work/$1.client" || fail "$1: s_client failed"
    [ "$(pin_verifies "$work/$1.trace")" = '0018 04 9000' ] || fail "$1: expected one VERIFY of the auth PIN"
    [ "$(card_signatures "$work/$1.trace")" = 1 ] || fail "$1: expected one signature by the card"
}
refused_pss() {
    ! grep -qF "subject=C = JP, CN = $auth_cn" "$work/$1.out" || fail "$1: handshake went through"
    grep -q 'Mechanism invalid' "$work/$1.client" || fail "$1: expected the module to refuse RSA-PSS (CKR_MECHANISM_INVALID)"
    [ "$(card_signatures "$work/$1.trace")" = 0 ] || fail "$1: the card signed"
}

connect flags "$work/plain.cnf" -tls1_2 -client_sigalgs RSA+SHA256
accepted flags
connect cnf "$work/tls12.cnf"
accepted cnf
connect defaults "$work/plain.cnf"
refused_pss defaults
connect tls12-only "$work/plain.cnf" -tls1_2
refused_pss tls12-only
echo PASS
