#!/usr/bin/env bash
# JPKI_PKCS11_ALWAYS_AUTH=1 (docs/module.md): the sign key is CKA_ALWAYS_AUTHENTICATE, so every
# signature needs C_Login(CKU_CONTEXT_SPECIFIC) with the signature password, on top of the login
# (issue 10). What each program does with it, on the card's APDU trace:
# - pkcs11-tool and cmsutil (-f pinfile) answer the extra login with the password they have:
#   one VERIFY for the login, one more per signature, and they sign;
# - pdfsig with -kpw signs the same way (its two signatures: two extra VERIFYs);
# - pdfsig without -kpw hands the context login the empty password it was given, as LibreOffice's
#   PDF signing does (its NSS callback returns its empty argument): refused by its form before
#   any APDU (CKR_PIN_LEN_RANGE), no signature, no try spent; pdfsig exits 3.
# - pdfsig with a wrong -kpw: NSS asks its callback again after CKR_PIN_INCORRECT and pdfsig
#   answers with the same password; the module sends it once (63C4) and refuses the repeats
#   without a VERIFY (docs/design.md §3 "Login"): exactly one try spent, no signature.
source "$(dirname "$0")/lib-nss.sh"
need pdfsig poppler-utils
need certutil libnss3-tools
need cmsutil libnss3-tools
need pkcs11-tool opensc
need python3 python3
e2e_setup

db=$work/nssdb
nss_new_db "$db"
head -c 1000 /dev/urandom >"$work/data"
write_test_pdf "$work/in.pdf"

step() {  # step NAME COMMAND...: output and status in $work/NAME.out, a marker in the trace
    local name=$1; shift
    JPKI_PKCS11_ALWAYS_AUTH=1 JPKI_PKCS11_LOG=info nss "$@" >"$work/$name.out" 2>&1
    echo "rc=$?" >>"$work/$name.out"
    echo "== $name" >>"$work/trace"
}
export -f step nss
export work db module SIGN_NICK SIGN_PIN E2E_CLIENT_TIMEOUT
segment() {
    awk -v name="== $1" '$0 == name {exit} /^== / {lines = ""; next} {lines = lines $0 "\n"}
                         END {printf "%s", lines}' "$work/trace"
}
# expect NAME RC VERIFYS SIGNATURES: exit status, signature-password VERIFYs, 80 2A commands.
expect() {
    local got_rc verifies signatures
    got_rc=$(sed -n 's/^rc=//p' "$work/$1.out")
    segment "$1" >"$work/$1.trace"
    verifies=$(pin_verifies "$work/$1.trace" | grep -c '^001B 06 9000$' || true)
    signatures=$(card_signatures "$work/$1.trace")
    echo "$1: rc=$got_rc VERIFY=$verifies 80 2A=$signatures"
    [ "$got_rc" = "$2" ] || fail "$1: exit status $got_rc, expected $2"
    [ "$verifies" = "$3" ] || fail "$1: $verifies signature password VERIFYs, expected $3"
    [ "$signatures" = "$4" ] || fail "$1: $signatures signatures, expected $4"
    ! pin_verifies "$work/$1.trace" | grep -qv '^001B 06 9000$' || fail "$1: another PIN VERIFY: $(pin_verifies "$work/$1.trace")"
}

printf '%s\n' "$SIGN_PIN" >"$work/pin-sign"
write_card_state "$work/state" 3 5
in_vcard --state "$work/state" -- bash -c '
    step pkcs11-tool pkcs11-tool --module "$module" --token-label "JPKI (Digital Signature PIN)" --login \
        --pin "$SIGN_PIN" --sign -m SHA256-RSA-PKCS --id 02 -i "$work/data" -o "$work/data.sig"
    step cmsutil cmsutil -S -N "$SIGN_NICK" -Y NONE -d "sql:$db" -f "$work/pin-sign" -i "$work/data" -o "$work/data.p7"
    step pdfsig-kpw pdfsig -add-signature -nssdir "sql:$db" -nss-pwd "$SIGN_PIN" -kpw "$SIGN_PIN" \
        -nick "$SIGN_NICK" "$work/in.pdf" "$work/kpw.pdf"
    step pdfsig-no-kpw pdfsig -add-signature -nssdir "sql:$db" -nss-pwd "$SIGN_PIN" \
        -nick "$SIGN_NICK" "$work/in.pdf" "$work/no-kpw.pdf"
    step pdfsig-wrong-kpw pdfsig -add-signature -nssdir "sql:$db" -nss-pwd "$SIGN_PIN" -kpw WRONG99 \
        -nick "$SIGN_NICK" "$work/in.pdf" "$work/wrong-kpw.pdf"
' || fail "with-vcard failed"
for s in pkcs11-tool cmsutil pdfsig-kpw pdfsig-no-kpw pdfsig-wrong-kpw; do echo "==== $s"; cat "$work/$s.out"; done

expect pkcs11-tool 0 2 1
expect cmsutil 0 2 1
expect pdfsig-kpw 0 3 2
expect pdfsig-no-kpw 3 1 0
grep -q 'CKR_PIN_LEN_RANGE' "$work/pdfsig-no-kpw.out" || fail "the empty context password was not refused by its form"
[ -e "$work/no-kpw.pdf" ] && fail "pdfsig wrote a PDF without a signature"
# The wrong -kpw: the login's VERIFY, then the wrong password once (63C4), never again.
segment pdfsig-wrong-kpw >"$work/pdfsig-wrong-kpw.trace"
echo "pdfsig-wrong-kpw: $(sed -n 's/^rc=//p' "$work/pdfsig-wrong-kpw.out"); VERIFYs:"
pin_verifies "$work/pdfsig-wrong-kpw.trace"
[ "$(pin_verifies "$work/pdfsig-wrong-kpw.trace")" = "$(printf '001B 06 9000\n001B 07 63C4')" ] ||
    fail "pdfsig-wrong-kpw: expected the login's VERIFY and one VERIFY of the wrong password"
[ "$(card_signatures "$work/pdfsig-wrong-kpw.trace")" = 0 ] || fail "pdfsig-wrong-kpw: the card signed"
[ "$(sed -n 's/^rc=//p' "$work/pdfsig-wrong-kpw.out")" != 0 ] || fail "pdfsig-wrong-kpw: pdfsig reported success"
grep -q 'refused without reaching the card' "$work/pdfsig-wrong-kpw.out" ||
    fail "pdfsig-wrong-kpw: the module did not log the refused repeat"
[ -s "$work/wrong-kpw.pdf" ] && fail "pdfsig wrote a PDF with a wrong key password"
# Only the wrong -kpw spent a try, and only one.
[ "$(state_value "$work/state" sign_tries)" = 4 ] ||
    fail "expected exactly one try spent: sign_tries=$(state_value "$work/state" sign_tries)"
openssl cms -verify -binary -inform DER -in "$work/data.p7" -content "$work/data" -CAfile "$pki/sign-ca.pem" \
    -out /dev/null || fail "the cmsutil signature does not verify"
echo PASS
