#!/usr/bin/env bash
# module-pkcs11-tool.sh CASE [jpki-vcard options]
#
# jpki-pkcs11.so through the real PC/SC stack (with-vcard.sh: private pcscd + vpcd + the
# virtual card), driven by OpenSC's pkcs11-tool as a user would. Each CASE is one ctest test;
# extra options go to the virtual card (e.g. --reselect-clears: every login+sign test must pass
# whether or not re-selecting the JPKI AP clears a verified PIN, docs/design.md §4).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pki=$(cd "$here/../pki" && pwd)
build=${JPKI_BUILD_DIR:-$here/../../build}
module=${JPKI_MODULE:-$build/jpki-pkcs11.so}
[ -r "$module" ] || { echo "FAIL: module not found at $module" >&2; exit 1; }
auth_token='JPKI (User Authentication PIN)'
sign_token='JPKI (Digital Signature PIN)'

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
case_name=${1:-}
shift || true
card_options=("$@")

# Runs a bash snippet inside with-vcard.sh with the module in $p11 ("pkcs11-tool --module ...").
in_vcard() {
    "$here/with-vcard.sh" --auth-pin 1234 --sign-pin ABC123 "${card_options[@]}" "$@" -- \
        env p11="pkcs11-tool --module $module" bash -c "set -euo pipefail; $snippet"
}

case "$case_name" in
list-slots)
    snippet='$p11 --list-token-slots' in_vcard >"$work/out.txt"
    cat "$work/out.txt"
    grep -q "token label *: $auth_token" "$work/out.txt" || fail "auth token not listed"
    grep -q "token label *: $sign_token" "$work/out.txt" || fail "sign token not listed"
    serial=$(openssl x509 -inform DER -in "$pki/auth-cert.der" -noout -serial | cut -d= -f2)
    [ "$(grep -c "serial num *: $serial" "$work/out.txt")" = 2 ] || fail "both tokens must carry serial $serial"
    ;;

list-objects)
    snippet="\$p11 --token-label '$auth_token' --list-objects; echo ====; \$p11 --token-label '$sign_token' --list-objects; echo ====; \$p11 --token-label '$sign_token' --login --pin ABC123 --list-objects" \
        in_vcard >"$work/out.txt"
    cat "$work/out.txt"
    csplit -s -f "$work/part" "$work/out.txt" '/^====$/' '{*}'
    grep -q 'User Authentication Certificate$' "$work/part00" || fail "auth certificate not listed"
    grep -q 'CKP_PUBLIC_CERTIFICATES_TOKEN' "$work/part00" || fail "no public-certificates profile on the auth token"
    grep -q 'Private Key Object' "$work/part00" && fail "private key listed before login"
    grep -q 'Digital Signature Certificate$' "$work/part01" && fail "signing certificate listed before login"
    grep -q 'Digital Signature Certificate CA' "$work/part01" || fail "signing CA not listed"
    grep -q 'Digital Signature Certificate$' "$work/part02" || fail "signing certificate not listed after login"
    grep -q 'Private Key Object' "$work/part02" || fail "signing key not listed after login"
    ;;

login-sign)
    # Both slots: log in, SHA256-RSA-PKCS over a file, verify with openssl; the certificate is
    # read back through the module.
    head -c 3000 /dev/urandom >"$work/data"
    snippet="
        \$p11 --token-label '$auth_token' --login --pin 1234 --sign --id 01 -m SHA256-RSA-PKCS -i '$work/data' -o '$work/auth.sig'
        \$p11 --token-label '$auth_token' --read-object --type cert --id 01 -o '$work/auth.der'
        \$p11 --token-label '$sign_token' --login --pin ABC123 --sign --id 02 -m SHA256-RSA-PKCS -i '$work/data' -o '$work/sign.sig'
        \$p11 --token-label '$sign_token' --login --pin ABC123 --read-object --type cert --id 02 -o '$work/sign.der'
    " in_vcard
    for role in auth sign; do
        cmp "$work/$role.der" "$pki/$role-cert.der" || fail "$role certificate read through the module differs"
        openssl x509 -inform DER -in "$work/$role.der" -pubkey -noout >"$work/$role.pub"
        openssl dgst -sha256 -verify "$work/$role.pub" -signature "$work/$role.sig" "$work/data" ||
            fail "$role signature does not verify"
    done
    ;;

test-login)
    # pkcs11-tool --test prints "N errors" and exits 0 either way: read its output.
    for token in "$auth_token" "$sign_token"; do
        pin=1234; [ "$token" = "$sign_token" ] && pin=ABC123
        snippet="\$p11 --token-label '$token' --test --login --pin $pin" in_vcard >"$work/test.txt" 2>&1 ||
            { cat "$work/test.txt"; fail "pkcs11-tool --test did not run on $token"; }
        cat "$work/test.txt"
        grep -q '^No errors' "$work/test.txt" || fail "pkcs11-tool --test reported errors on $token"
        for mechanism in RSA-PKCS SHA1-RSA-PKCS SHA256-RSA-PKCS; do
            grep -q "$mechanism: OK" "$work/test.txt" || fail "$mechanism not OK on $token"
        done
    done
    ;;

wrong-pin)
    # A wrong PIN costs exactly one try; a badly formatted one costs none and sends no APDU.
    snippet="
        if \$p11 --token-label '$auth_token' --login --pin 9999 --list-objects >/dev/null 2>&1; then exit 91; fi
        if \$p11 --token-label '$auth_token' --login --pin 12345 --list-objects >'$work/format.txt' 2>&1; then exit 92; fi
        \$p11 --list-token-slots
    " in_vcard --state "$work/state" --trace "$work/trace" >"$work/slots.txt"
    grep -q '^auth_tries=2$' "$work/state" || { cat "$work/state"; fail "one wrong PIN must cost one try"; }
    grep -q 'CKR_PIN_LEN_RANGE' "$work/format.txt" || { cat "$work/format.txt"; fail "5-digit PIN not refused as CKR_PIN_LEN_RANGE"; }
    [ "$(grep -c '^0020008004' "$work/trace")" = 1 ] || fail "expected exactly one VERIFY with a PIN"
    grep -A8 "$auth_token" "$work/slots.txt" | grep -q 'PIN count low' || { cat "$work/slots.txt"; fail "count-low flag not shown"; }
    ;;

debug-log)
    # JPKI_PKCS11_LOG=debug shows every APDU on stderr, and the PINs as ** only. Fixed data, so
    # the hash in the logged SIGN command is the same every run (it cannot contain a PIN by chance).
    printf 'jpki-pkcs11 debug log test\n' >"$work/data"
    snippet="
        export JPKI_PKCS11_LOG=debug
        \$p11 --token-label '$auth_token' --login --pin 1234 --sign --id 01 -m SHA256-RSA-PKCS -i '$work/data' -o '$work/sig' 2>'$work/log'
        \$p11 --token-label '$sign_token' --login --pin ABC123 -O >/dev/null 2>>'$work/log'
        if \$p11 --token-label '$auth_token' --login --pin 9999 -O >/dev/null 2>>'$work/log'; then exit 93; fi
    " in_vcard
    grep -q 'debug: > 802A0080' "$work/log" || { cat "$work/log"; fail "no COMPUTE DIGITAL SIGNATURE in the debug log"; }
    grep -q 'debug: > 0020008004\*\*\*\*\*\*\*\*$' "$work/log" || fail "the VERIFY is not shown redacted"
    grep -q 'info: CKR_PIN_INCORRECT' "$work/log" || fail "the wrong PIN's CKR is not logged"
    for secret in 31323334 414243313233 39393939 1234 ABC123; do
        ! grep -q "$secret" "$work/log" || fail "a PIN ($secret) appears in the log"
    done
    ;;

*)
    echo "usage: $0 list-slots|list-objects|login-sign|test-login|wrong-pin|debug-log [jpki-vcard options]" >&2
    exit 2
    ;;
esac
echo "PASS: $case_name ${card_options[*]}"
