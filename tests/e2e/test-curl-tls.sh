#!/usr/bin/env bash
# curl with TLS client authentication, the key on the card through OpenSSL's pkcs11 engine
# (`--engine pkcs11 --key-type ENG --key pkcs11:...`), against `openssl s_server -Verify 1 -www`
# trusting the test authentication CA, on loopback in a private network namespace. Each
# connection: a fresh server and a fresh run of the virtual card, under the default
# `pss = auto`, the module's per-user cache one folder per card kind.
# A card without RSA-PSS (jpki-vcard's default): TLS 1.2 with RSA+SHA256. curl has no option for
# client signature algorithms, so `ClientSignatureAlgorithms = RSA+SHA256` goes in the
# openssl.cnf that loads the engine; curl sets the maximum TLS version itself (overriding
# openssl.cnf's MaxProtocol), so it needs `--tls-max 1.2`. Both are shown to be needed. Also the
# certificate itself taken from the card (`--cert-type ENG`). A TLS 1.3-only server refuses the
# login and the card never signs.
# A card with RSA-PSS (jpki-vcard --pss), proven by `jpki pss probe` (the PIN on stdin): curl
# with the openssl.cnf that only loads the engine (no TLS version, no signature algorithms)
# logs in to a TLS 1.3-only server (`-tls1_3`), the certificate from the card: the page shows
# TLS 1.3 and the certificate; one VERIFY, one P1 04 signature, no PKCS#1 v1.5 one.
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

# fetch CASE CNF [jpki-vcard options] [-- s_server options] -- [curl options...]: GET / from a
# fresh -www server (its status page shows the client certificate it received).
fetch() {
    local name=$1 cnf=$2
    shift 2
    split_case_args "$@"
    reset_trace
    start_s_server "$name" -www -naccept 1 ${case_server[@]+"${case_server[@]}"}
    OPENSSL_CONF=$cnf in_vcard ${case_card[@]+"${case_card[@]}"} -- timeout -k 5 "$E2E_CLIENT_TIMEOUT" curl -sS -k --max-time 30 \
        --engine pkcs11 --key-type ENG --key "$AUTH_KEY_URI?pin-value=$AUTH_PIN" ${case_client[@]+"${case_client[@]}"} \
        -o "$work/$name.page" "https://127.0.0.1:$port/" </dev/null >"$work/$name.client" 2>&1
    echo "curl exit $?" >>"$work/$name.client"
    stop_s_server
    cp "$work/trace" "$work/$name.trace"
    echo "==== $name: server"; cat "$work/$name.out"
    echo "==== $name: curl"; cat "$work/$name.client"
    echo "==== $name: page (excerpt)"; grep -E 'Protocol|Cipher|Subject:|Verify return' "$work/$name.page" 2>/dev/null
    echo "==== $name: PIN VERIFYs"; pin_verifies "$work/$name.trace"
    echo "==== $name: signatures: P1 00 $(card_signatures "$work/$name.trace"), P1 04 $(card_pss_signatures "$work/$name.trace")"
}
# logged_in CASE PROTOCOL: curl got the page over PROTOCOL, the server verified the card's
# certificate; one VERIFY of the auth PIN.
logged_in() {
    grep -q '^curl exit 0$' "$work/$1.client" || fail "$1: curl failed"
    grep -q '^depth=0 C = JP, CN = '"$auth_cn" "$work/$1.out" || fail "$1: the server did not verify the client certificate"
    ! grep -q '^verify error' "$work/$1.out" || fail "$1: the client certificate did not verify"
    grep -qF "Subject: C=JP, CN=$auth_cn" "$work/$1.page" || fail "$1: the server's session shows no client certificate"
    grep -q "Protocol *: $2\$" "$work/$1.page" || fail "$1: not $2"
    [ "$(pin_verifies "$work/$1.trace")" = '0018 04 9000' ] || fail "$1: expected one VERIFY of the auth PIN"
}
accepted() {
    logged_in "$1" TLSv1.2
    [ "$(card_signatures "$work/$1.trace")" = 1 ] || fail "$1: expected one PKCS#1 v1.5 signature by the card"
}
# never_signed CASE: curl failed, the card signed nothing.
never_signed() {
    ! grep -q '^curl exit 0$' "$work/$1.client" || fail "$1: curl succeeded"
    [ "$(card_signatures "$work/$1.trace")" = 0 ] || fail "$1: the card signed"
    [ "$(card_pss_signatures "$work/$1.trace")" = 0 ] || fail "$1: a P1 04 went to the card"
}

# ---- A card without RSA-PSS.
use_cache plain
fetch cert-file "$work/tls12.cnf" -- -- --tls-max 1.2 --cert "$pki/auth-cert.pem"
accepted cert-file
[ "$(card_pss_signatures "$work/cert-file.trace" 6A86)/$(card_pss_signatures "$work/cert-file.trace")" = 1/1 ] ||
    fail "cert-file: expected the module's proof after the first login: exactly one P1 04, refused with 6A86"
fetch cert-card "$work/tls12.cnf" -- -- --tls-max 1.2 --cert-type ENG --cert "$AUTH_CERT_URI"
accepted cert-card
# openssl.cnf alone: curl still offers TLS 1.3, where RSA+SHA256 cannot sign a client
# certificate: no certificate is sent, the server refuses, the card never signs.
fetch no-tls-max "$work/tls12.cnf" -- -- --cert "$pki/auth-cert.pem"
never_signed no-tls-max
grep -q 'peer did not return a certificate' "$work/no-tls-max.out" || fail "no-tls-max: expected no client certificate"
# --tls-max 1.2 alone: OpenSSL prefers RSA-PSS in TLS 1.2 too; the module refuses it.
fetch no-sigalgs "$work/plain.cnf" -- -- --tls-max 1.2 --cert "$pki/auth-cert.pem"
never_signed no-sigalgs
grep -q 'Mechanism invalid' "$work/no-sigalgs.client" || fail "no-sigalgs: expected CKR_MECHANISM_INVALID for RSA-PSS"
# A TLS 1.3-only server, nothing restricted on the client: RSA-PSS asked for, refused.
fetch tls13 "$work/plain.cnf" -- -tls1_3 -- --cert-type ENG --cert "$AUTH_CERT_URI"
never_signed tls13
grep -q 'Mechanism invalid' "$work/tls13.client" || fail "tls13: expected CKR_MECHANISM_INVALID for RSA-PSS"

# ---- A card with RSA-PSS, proven by `jpki pss probe`.
prove_pss_by_probe
fetch pss-tls13 "$work/plain.cnf" --pss -- -tls1_3 -- --cert-type ENG --cert "$AUTH_CERT_URI"
logged_in pss-tls13 TLSv1.3
[ "$(card_pss_signatures "$work/pss-tls13.trace" 9000)/$(card_pss_signatures "$work/pss-tls13.trace")" = 1/1 ] ||
    fail "pss-tls13: expected exactly one P1 04 command, answered 9000"
[ "$(card_signatures "$work/pss-tls13.trace")" = 0 ] || fail "pss-tls13: a PKCS#1 v1.5 signature too"
echo PASS
