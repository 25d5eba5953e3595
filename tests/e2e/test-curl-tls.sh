#!/usr/bin/env bash
# curl with TLS client authentication, the key on the card through OpenSSL's pkcs11 engine
# (`--engine pkcs11 --key-type ENG --key pkcs11:...`), against `openssl s_server -Verify 1 -www`
# trusting the test authentication CA, on loopback in a private network namespace.
# The card has no RSA-PSS yet, so TLS 1.2 with RSA+SHA256: curl has no option for client
# signature algorithms, so `ClientSignatureAlgorithms = RSA+SHA256` goes in the openssl.cnf that
# loads the engine; curl sets the maximum TLS version itself (overriding openssl.cnf's
# MaxProtocol), so it needs `--tls-max 1.2`. Both are shown to be needed. Also the certificate
# itself taken from the card (`--cert-type ENG`).
source "$(dirname "$0")/lib-nss.sh"
need curl curl
need_pkcs11_engine
e2e_enter_netns "$@"
e2e_setup

make_server_cert
auth_cn=$(cert_cn auth)
write_openssl_cnf "$work/tls12.cnf" tls12
write_openssl_cnf "$work/plain.cnf" plain
AUTH_CERT_URI='pkcs11:token=JPKI%20(User%20Authentication%20PIN);object=User%20Authentication%20Certificate;type=cert'

# fetch CASE CNF [curl options...]: GET / from a fresh -www server (its status page shows the
# client certificate it received).
fetch() {
    local name=$1 cnf=$2; shift 2
    reset_trace
    start_s_server "$name" -www -naccept 1
    OPENSSL_CONF=$cnf in_vcard -- timeout -k 5 "$E2E_CLIENT_TIMEOUT" curl -sS -k --max-time 30 \
        --engine pkcs11 --key-type ENG --key "$AUTH_KEY_URI?pin-value=$AUTH_PIN" "$@" \
        -o "$work/$name.page" "https://127.0.0.1:$port/" </dev/null >"$work/$name.client" 2>&1
    echo "curl exit $?" >>"$work/$name.client"
    stop_s_server
    cp "$work/trace" "$work/$name.trace"
    echo "==== $name: server"; cat "$work/$name.out"
    echo "==== $name: curl"; cat "$work/$name.client"
    echo "==== $name: page (excerpt)"; grep -E 'Protocol|Cipher|Subject:|Verify return' "$work/$name.page" 2>/dev/null
    echo "==== $name: PIN VERIFYs"; pin_verifies "$work/$name.trace"
}
accepted() {
    grep -q '^curl exit 0$' "$work/$1.client" || fail "$1: curl failed"
    grep -q '^depth=0 C = JP, CN = '"$auth_cn" "$work/$1.out" || fail "$1: the server did not verify the client certificate"
    ! grep -q '^verify error' "$work/$1.out" || fail "$1: the client certificate did not verify"
    grep -qF "Subject: C=JP, CN=$auth_cn" "$work/$1.page" || fail "$1: the server's session shows no client certificate"
    grep -q 'Protocol *: TLSv1.2' "$work/$1.page" || fail "$1: not TLS 1.2"
    [ "$(pin_verifies "$work/$1.trace")" = '0018 04 9000' ] || fail "$1: expected one VERIFY of the auth PIN"
    [ "$(card_signatures "$work/$1.trace")" = 1 ] || fail "$1: expected one signature by the card"
}

fetch cert-file "$work/tls12.cnf" --tls-max 1.2 --cert "$pki/auth-cert.pem"
accepted cert-file
fetch cert-card "$work/tls12.cnf" --tls-max 1.2 --cert-type ENG --cert "$AUTH_CERT_URI"
accepted cert-card
# openssl.cnf alone: curl still offers TLS 1.3, where RSA+SHA256 cannot sign a client
# certificate: no certificate is sent, the server refuses, the card never signs.
fetch no-tls-max "$work/tls12.cnf" --cert "$pki/auth-cert.pem"
! grep -q '^curl exit 0$' "$work/no-tls-max.client" || fail "no-tls-max: curl succeeded"
grep -q 'peer did not return a certificate' "$work/no-tls-max.out" || fail "no-tls-max: expected no client certificate"
[ "$(card_signatures "$work/no-tls-max.trace")" = 0 ] || fail "no-tls-max: the card signed"
# --tls-max 1.2 alone: OpenSSL prefers RSA-PSS in TLS 1.2 too; the module refuses it.
fetch no-sigalgs "$work/plain.cnf" --tls-max 1.2 --cert "$pki/auth-cert.pem"
! grep -q '^curl exit 0$' "$work/no-sigalgs.client" || fail "no-sigalgs: curl succeeded without RSA-PSS"
grep -q 'Mechanism invalid' "$work/no-sigalgs.client" || fail "no-sigalgs: expected CKR_MECHANISM_INVALID for RSA-PSS"
[ "$(card_signatures "$work/no-sigalgs.trace")" = 0 ] || fail "no-sigalgs: the card signed"
echo PASS
