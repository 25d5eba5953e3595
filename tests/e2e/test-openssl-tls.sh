#!/usr/bin/env bash
# TLS client authentication with OpenSSL's s_client, the key on the card through Debian's pkcs11
# engine (libp11), the certificate from a file, against `openssl s_server -Verify 1` trusting the
# test authentication CA, on loopback in a private network namespace. Each connection: a fresh
# server and a fresh run of the virtual card, under the default `pss = auto`, the module's
# per-user cache one folder per card kind.
#
# A card without RSA-PSS (jpki-vcard's default): the module signs PKCS#1 v1.5 only. TLS 1.3
# requires RSA-PSS for client certificates, and OpenSSL prefers RSA-PSS in TLS 1.2 too. So TLS
# needs TLS 1.2 and RSA+SHA256: `-tls1_2 -client_sigalgs RSA+SHA256` on the command line, or
# `MaxProtocol = TLSv1.2` + `ClientSignatureAlgorithms = RSA+SHA256` in openssl.cnf. Both are
# shown to work (the first login also runs the module's proof: one P1 04, refused with 6A86);
# without them the handshake fails with the module's CKR_MECHANISM_INVALID (libp11 asks for
# RSA-PSS although the token does not list it), and the card never signs.
# A card with RSA-PSS (jpki-vcard --pss), proven by an earlier login (a TLS 1.2 login as above:
# its proof is one P1 04 answered 9000): s_client with OpenSSL's defaults (no sigalgs
# restriction) logs in to a TLS 1.3-only server (`-tls1_3`) with RSA-PSS and SHA-256, one
# VERIFY, one P1 04 signature; and to a TLS 1.2-only one, with RSA-PSS too. With
# `JPKI_PKCS11_PSS=off` the same card is refused as one without RSA-PSS and never gets a P1 04.
source "$(dirname "$0")/lib-nss.sh"
need_pkcs11_engine
e2e_enter_netns "$@"
e2e_setup

make_server_cert
auth_cn=$(cert_cn auth)
write_openssl_cnf "$work/plain.cnf" plain
write_openssl_cnf "$work/tls12.cnf" tls12

# connect CASE CNF [jpki-vcard options] [-- s_server options] -- s_client options...: one
# connection to a fresh server.
connect() {
    local name=$1 cnf=$2
    shift 2
    split_case_args "$@"
    reset_trace
    start_s_server "$name" -naccept 1 ${case_server[@]+"${case_server[@]}"}
    OPENSSL_CONF=$cnf in_vcard ${case_card[@]+"${case_card[@]}"} -- timeout -k 5 "$E2E_CLIENT_TIMEOUT" openssl s_client \
        -connect "127.0.0.1:$port" -engine pkcs11 -keyform engine \
        -key "$AUTH_KEY_URI?pin-value=$AUTH_PIN" -cert "$pki/auth-cert.pem" ${case_client[@]+"${case_client[@]}"} \
        </dev/null >"$work/$name.client" 2>&1
    echo "client exit $?" >>"$work/$name.client"
    stop_s_server
    cp "$work/trace" "$work/$name.trace"
    echo "==== $name: server"; grep -v -E '^[A-Za-z0-9+/=]{60,}$' "$work/$name.out"
    echo "==== $name: client"; grep -v -E '^[A-Za-z0-9+/=]{60,}$' "$work/$name.client"
    echo "==== $name: PIN VERIFYs"; pin_verifies "$work/$name.trace"
    echo "==== $name: signatures: P1 00 $(card_signatures "$work/$name.trace"), P1 04 $(card_pss_signatures "$work/$name.trace")"
}
server_has() { grep -qF -- "$2" "$work/$1.out" || fail "$1: the server did not report '$2'"; }
# verified CASE SIGTYPE PROTOCOL: the server verified the card's certificate, the CertificateVerify
# signed as SIGTYPE (RSA: PKCS#1 v1.5; RSA-PSS) with SHA-256, over PROTOCOL; one VERIFY.
verified() {
    server_has "$1" "subject=C = JP, CN = $auth_cn"
    grep -q '^depth=0 C = JP, CN = '"$auth_cn" "$work/$1.out" || fail "$1: server did not verify the client certificate"
    ! grep -q '^verify error' "$work/$1.out" || fail "$1: the client certificate did not verify"
    grep -qx "Peer signature type: $2" "$work/$1.out" || fail "$1: the client did not sign with $2"
    server_has "$1" 'Peer signing digest: SHA256'
    grep -q "^New, $3, Cipher is " "$work/$1.client" || fail "$1: not $3"
    grep -q '^client exit 0$' "$work/$1.client" || fail "$1: s_client failed"
    [ "$(pin_verifies "$work/$1.trace")" = '0018 04 9000' ] || fail "$1: expected one VERIFY of the auth PIN"
}
accepted() {
    verified "$1" RSA TLSv1.2
    [ "$(card_signatures "$work/$1.trace")" = 1 ] || fail "$1: expected one PKCS#1 v1.5 signature by the card"
}
# accepted_pss CASE PROTOCOL: logged in with one RSA-PSS signature by the card (P1 04).
accepted_pss() {
    verified "$1" RSA-PSS "$2"
    [ "$(card_pss_signatures "$work/$1.trace" 9000)/$(card_pss_signatures "$work/$1.trace")" = 1/1 ] ||
        fail "$1: expected exactly one P1 04 command, answered 9000"
    [ "$(card_signatures "$work/$1.trace")" = 0 ] || fail "$1: a PKCS#1 v1.5 signature too"
}
# refused_pss CASE: RSA-PSS asked for and refused by the module: no handshake, nothing sent to sign.
refused_pss() {
    ! grep -qF "subject=C = JP, CN = $auth_cn" "$work/$1.out" || fail "$1: handshake went through"
    grep -q 'Mechanism invalid' "$work/$1.client" || fail "$1: expected the module to refuse RSA-PSS (CKR_MECHANISM_INVALID)"
    [ "$(card_signatures "$work/$1.trace")" = 0 ] || fail "$1: the card signed"
    [ "$(card_pss_signatures "$work/$1.trace")" = 0 ] || fail "$1: a P1 04 went to the card"
}

# ---- A card without RSA-PSS.
use_cache plain
connect flags "$work/plain.cnf" -- -- -tls1_2 -client_sigalgs RSA+SHA256
accepted flags
[ "$(card_pss_signatures "$work/flags.trace" 6A86)/$(card_pss_signatures "$work/flags.trace")" = 1/1 ] ||
    fail "flags: expected the module's proof after the first login: exactly one P1 04, refused with 6A86"
connect cnf "$work/tls12.cnf" -- --
accepted cnf
connect defaults "$work/plain.cnf" -- --
refused_pss defaults
connect tls13-only "$work/plain.cnf" -- -tls1_3 --
refused_pss tls13-only
connect tls12-only "$work/plain.cnf" -- -- -tls1_2
refused_pss tls12-only

# ---- A card with RSA-PSS, the setting off: as without RSA-PSS.
use_cache off
JPKI_PKCS11_PSS=off connect off-flags "$work/plain.cnf" --pss -- -- -tls1_2 -client_sigalgs RSA+SHA256
accepted off-flags
[ "$(card_pss_signatures "$work/off-flags.trace")" = 0 ] || fail "off-flags: a P1 04 went to the card under pss=off"
JPKI_PKCS11_PSS=off connect off-tls13 "$work/plain.cnf" --pss -- -tls1_3 --
refused_pss off-tls13

# ---- A card with RSA-PSS, proven by a first login (auto); then OpenSSL's defaults.
use_cache auto
connect pss-first-login "$work/plain.cnf" --pss -- -- -tls1_2 -client_sigalgs RSA+SHA256
accepted pss-first-login
[ "$(card_pss_signatures "$work/pss-first-login.trace" 9000)/$(card_pss_signatures "$work/pss-first-login.trace")" = 1/1 ] ||
    fail "pss-first-login: expected the module's proof after the first login: exactly one P1 04, answered 9000"
connect pss-tls13 "$work/plain.cnf" --pss -- -tls1_3 --
accepted_pss pss-tls13 TLSv1.3
connect pss-tls12 "$work/plain.cnf" --pss -- -tls1_2 --
accepted_pss pss-tls12 TLSv1.2
echo PASS
