#!/usr/bin/env bash
# OpenSSL through Debian's pkcs11 engine (libp11, libengine-pkcs11-openssl) with MODULE_PATH set
# to our module in an openssl.cnf: `openssl dgst -sign` with each card key by PKCS#11 URI,
# verified with the certificates. The module runs inside an OpenSSL that has the engine set as
# default for every method (what `-engine pkcs11` does): the module's own OpenSSL work (it checks
# each card signature with the certificate's key) must not be captured by the engine.
# A PIN of the other token's format in the URI never reaches the card.
source "$(dirname "$0")/lib-nss.sh"
need_pkcs11_engine
e2e_setup

write_openssl_cnf "$work/openssl.cnf" plain
export OPENSSL_CONF=$work/openssl.cnf
head -c 20000 /dev/urandom >"$work/data"
for role in auth sign; do
    openssl x509 -in "$pki/$role-cert.pem" -pubkey -noout >"$work/$role.pub" || fail "public key of $role"
done

sign() {  # sign NAME DIGEST URI: openssl dgst with the engine key; exit status and output kept
    local name=$1 digest=$2 uri=$3
    timeout -k 5 "$E2E_CLIENT_TIMEOUT" openssl dgst "-$digest" -engine pkcs11 -keyform engine \
        -sign "$uri" -out "$work/$name.sig" "$work/data" </dev/null >"$work/$name.out" 2>&1
    echo "rc=$?" >>"$work/$name.out"
    echo "== $name" >>"$work/trace"
}
export -f sign
export work E2E_CLIENT_TIMEOUT
in_vcard -- bash -c "
    sign auth-sha256 sha256 '$AUTH_KEY_URI?pin-value=$AUTH_PIN'
    sign sign-sha256 sha256 '$SIGN_KEY_URI?pin-value=$SIGN_PIN'
    sign sign-sha512-id sha512 'pkcs11:token=JPKI%20(Digital%20Signature%20PIN);id=%02;type=private?pin-value=$SIGN_PIN'
    sign auth-signpin sha256 '$AUTH_KEY_URI?pin-value=$SIGN_PIN'
    sign sign-authpin sha256 '$SIGN_KEY_URI?pin-value=$AUTH_PIN'
" || fail "with-vcard failed"

segment() {
    awk -v name="== $1" '$0 == name {exit} /^== / {lines = ""; next} {lines = lines $0 "\n"}
                         END {printf "%s", lines}' "$work/trace"
}
for name in auth-sha256 sign-sha256 sign-sha512-id auth-signpin sign-authpin; do
    echo "==== $name"; cat "$work/$name.out"; echo "---- PIN VERIFYs:"; segment "$name" | pin_verifies /dev/stdin
done

check_signed() {  # check_signed NAME ROLE DIGEST EF LC
    local name=$1 role=$2 digest=$3
    grep -q '^rc=0$' "$work/$name.out" || fail "$name: openssl could not sign with the card (see above)"
    openssl dgst "-$digest" -verify "$work/$role.pub" -signature "$work/$name.sig" "$work/data" ||
        fail "$name: the signature does not verify with the $role certificate"
    [ "$(segment "$name" | pin_verifies /dev/stdin)" = "$4 $5 9000" ] || fail "$name: expected one VERIFY on EF $4"
    [ "$(segment "$name" | card_signatures /dev/stdin)" = 1 ] || fail "$name: expected one signature by the card"
}
check_signed auth-sha256 auth sha256 0018 04
check_signed sign-sha256 sign sha256 001B 06
check_signed sign-sha512-id sign sha512 001B 06

refused() {  # refused NAME: no signature, no PIN sent to the card
    ! grep -q '^rc=0$' "$work/$1.out" || fail "$1: openssl signed with a PIN of the other token's format"
    grep -q 'Invalid PIN length' "$work/$1.out" || fail "$1: the module did not answer CKR_PIN_LEN_RANGE"
    [ -z "$(segment "$1" | pin_verifies /dev/stdin)" ] || fail "$1: the PIN was sent to the card"
    [ "$(segment "$1" | card_signatures /dev/stdin)" = 0 ] || fail "$1: the card signed"
}
refused auth-signpin
refused sign-authpin
echo PASS
