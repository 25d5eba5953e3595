#!/usr/bin/env bash
# opensc-fidelity.sh CASE
#
# The fidelity tests of the virtual My Number Card (docs/design.md §4): OpenSC's own JPKI driver,
# which works with real cards, runs unchanged against the virtual card behind a private pcscd.
# If OpenSC cannot use our card, our card is wrong. Each CASE is one ctest test.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pki=$(cd "$here/../pki" && pwd)
with_vcard="$here/with-vcard.sh"
auth_pin=1234
sign_pin=ABC123

opensc_module=""
for candidate in /usr/lib/*/opensc-pkcs11.so /usr/lib/opensc-pkcs11.so; do
    [ -r "$candidate" ] && { opensc_module=$candidate; break; }
done
[ -n "$opensc_module" ] || { echo "FAIL: OpenSC's opensc-pkcs11.so not found" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Everything runs with OpenSC's default configuration, as a user's machine has it.
p11() { pkcs11-tool --module "$opensc_module" "$@"; }
export -f p11
export opensc_module

# Runs a bash snippet inside with-vcard.sh; vcard options come first, then --.
in_vcard() {
    local options=()
    while [ "$1" != "--" ]; do options+=("$1"); shift; done
    shift
    "$with_vcard" --auth-pin "$auth_pin" --sign-pin "$sign_pin" "${options[@]}" -- \
        bash -c "set -euo pipefail; $1"
}

case "${1:-}" in
lists-both-tokens)
    in_vcard -- 'p11 --list-token-slots' >"$work/slots.txt"
    cat "$work/slots.txt"
    grep -q 'token label *: JPKI (User Authentication PIN)' "$work/slots.txt" ||
        fail "auth token not listed"
    grep -q 'token label *: JPKI (Digital Signature PIN)' "$work/slots.txt" ||
        fail "sign token not listed"
    ;;

reads-certificates)
    # Public certificates without PIN; the signing certificate only after the sign password.
    in_vcard -- "
        p11 --token-label 'JPKI (User Authentication PIN)' --read-object --type cert --id 01 -o '$work/auth.der'
        p11 --token-label 'JPKI (User Authentication PIN)' --read-object --type cert --id 03 -o '$work/auth-ca.der'
        # OpenSC puts every public certificate, the signing CA's too, on its first token.
        p11 --token-label 'JPKI (User Authentication PIN)' --read-object --type cert --id 04 -o '$work/sign-ca.der'
        if p11 --token-label 'JPKI (Digital Signature PIN)' --read-object --type cert --id 02 -o '$work/nologin.der' 2>/dev/null; then
            echo 'signing certificate readable without login' >&2; exit 1
        fi
        p11 --token-label 'JPKI (Digital Signature PIN)' --login --pin $sign_pin --read-object --type cert --id 02 -o '$work/sign.der'
    "
    declare -A card_file=([auth]=auth-cert [sign]=sign-cert [auth-ca]=auth-ca [sign-ca]=sign-ca)
    for name in "${!card_file[@]}"; do
        [ -s "$work/$name.der" ] || fail "$name certificate not read"
        cmp "$work/$name.der" "$pki/${card_file[$name]}.der" ||
            fail "$name certificate differs from the card's file"
    done
    echo "all four certificates read and identical to the card's files"
    ;;

login-sign-verify)
    # Both keys: log in, SHA256-RSA-PKCS over a file, verify with openssl against the certificate.
    head -c 1000 /dev/urandom >"$work/data"
    in_vcard --trace "$work/trace" -- "
        p11 --token-label 'JPKI (User Authentication PIN)' --login --pin $auth_pin --sign --id 01 \
            -m SHA256-RSA-PKCS -i '$work/data' -o '$work/auth.sig'
        p11 --token-label 'JPKI (Digital Signature PIN)' --login --pin $sign_pin --sign --id 02 \
            -m SHA256-RSA-PKCS -i '$work/data' -o '$work/sign.sig'
    "
    for role in auth sign; do
        openssl x509 -inform DER -in "$pki/$role-cert.der" -pubkey -noout >"$work/$role.pub"
        openssl dgst -sha256 -verify "$work/$role.pub" -signature "$work/$role.sig" "$work/data" ||
            fail "$role signature does not verify"
    done
    grep -q '^802A0080' "$work/trace" || fail "no COMPUTE DIGITAL SIGNATURE in the trace"
    ! grep -q "$(printf %s "$auth_pin" | od -An -tx1 | tr -d ' \n' | tr a-f A-F)" "$work/trace" ||
        fail "the PIN appears in the trace"
    ;;

wrong-pin-lowers-counter)
    # A wrong PIN through OpenSC spends one try on the card, and the card says so.
    in_vcard --state "$work/state" --trace "$work/trace" -- "
        if p11 --token-label 'JPKI (User Authentication PIN)' --login --pin 9999 --list-objects >/dev/null 2>&1; then
            echo 'a wrong PIN was accepted' >&2; exit 1
        fi
        p11 --list-token-slots >'$work/slots.txt'
    " || fail "the run failed"
    grep -q '^auth_tries=2$' "$work/state" || { cat "$work/state"; fail "auth counter not 2 after one wrong PIN"; }
    grep -q ' 63C2$' "$work/trace" || fail "the card did not answer 63C2"
    # OpenSC reads the counter with the empty VERIFY and reports the low count.
    grep -A12 'JPKI (User Authentication PIN)' "$work/slots.txt" | grep -q 'PIN count low' ||
        { cat "$work/slots.txt"; fail "OpenSC does not report the lowered counter"; }
    # The counter survives a restart of the card program, as on a real card; a good PIN resets it.
    in_vcard --state "$work/state" -- "
        p11 --token-label 'JPKI (User Authentication PIN)' --login --pin $auth_pin --list-objects >/dev/null
    "
    grep -q '^auth_tries=3$' "$work/state" || fail "a good PIN did not reset the counter"
    ;;

pkcs11-tool-test)
    # pkcs11-tool --test prints "N errors" and exits 0 either way: read its output.
    in_vcard -- "
        p11 --token-label 'JPKI (User Authentication PIN)' --test --login --pin $auth_pin
    " >"$work/test.txt" 2>&1 || { cat "$work/test.txt"; fail "pkcs11-tool --test failed to run"; }
    cat "$work/test.txt"
    grep -q 'No errors' "$work/test.txt" || fail "pkcs11-tool --test reported errors"
    grep -Eq 'RSA-PKCS: *OK|SHA256-RSA-PKCS: *OK' "$work/test.txt" || fail "no signature test passed"
    ;;

*)
    echo "usage: $0 lists-both-tokens|reads-certificates|login-sign-verify|wrong-pin-lowers-counter|pkcs11-tool-test" >&2
    exit 2
    ;;
esac
echo "PASS: $1"
