#!/usr/bin/env bash
# Signing a PDF from the command line (issue 10, docs/pdf.md): poppler's `pdfsig -add-signature`
# with an NSS database holding the module, no JPKI_PKCS11_* setting. pdfsig hands its one
# -nss-pwd to every token that wants a login and gives up at the second request; the module's
# default slot table shows pdfsig the signature token only (include/jpki/slot_defaults.hpp).
# Asserts: the signature is made by the card (one VERIFY of the signature password, COMPUTE
# DIGITAL SIGNATURE with the sign key, never the authentication PIN EF), `pdfsig` reports it
# valid, its CA unknown until `jpki setup firefox --trust` trusts the test signature CA in the
# Firefox profile pdfsig reads by default, then trusted; a change after signing
# breaks it, a password that breaks the format is refused with no APDU and no try spent, and a
# wrong one costs exactly one try (pdfsig does not repeat it).
source "$(dirname "$0")/lib-nss.sh"
need pdfsig poppler-utils
need certutil libnss3-tools
need python3 python3
e2e_setup

db=$work/nssdb
nss_new_db "$db"

write_test_pdf "$work/in.pdf"

# step NAME COMMAND...: output and exit status in $work/NAME.out, a marker in the card's trace.
step() {
    local name=$1; shift
    nss "$@" >"$work/$name.out" 2>&1
    echo "rc=$?" >>"$work/$name.out"
    echo "== $name" >>"$work/trace"
}
export -f step nss
export work db SIGN_NICK SIGN_PIN E2E_CLIENT_TIMEOUT
segment() {  # the trace lines of one step
    awk -v name="== $1" '$0 == name {exit} /^== / {lines = ""; next} {lines = lines $0 "\n"}
                         END {printf "%s", lines}' "$work/trace"
}

write_card_state "$work/state" 3 5
in_vcard --state "$work/state" -- bash -c '
    step sign pdfsig -add-signature -nssdir "sql:$db" -nss-pwd "$SIGN_PIN" -nick "$SIGN_NICK" \
        "$work/in.pdf" "$work/signed.pdf"
    # Too short for the signature password (6-16 characters): refused before any APDU.
    step short pdfsig -add-signature -nssdir "sql:$db" -nss-pwd 12345 -nick "$SIGN_NICK" \
        "$work/in.pdf" "$work/short.pdf"
    # Well-formed but wrong: one try, and pdfsig does not try it again.
    step wrong pdfsig -add-signature -nssdir "sql:$db" -nss-pwd ZZZ999 -nick "$SIGN_NICK" \
        "$work/in.pdf" "$work/wrong.pdf"
' || fail "with-vcard failed"
for s in sign short wrong; do echo "==== $s"; cat "$work/$s.out"; done

grep -qx 'rc=0' "$work/sign.out" || fail "pdfsig -add-signature failed"
[ -s "$work/signed.pdf" ] || fail "no signed PDF"
segment sign >"$work/sign.trace"
[ "$(pin_verifies "$work/sign.trace")" = '001B 06 9000' ] ||
    fail "expected one VERIFY of the signature password: $(pin_verifies "$work/sign.trace")"
grep -q '^00A4020C020018' "$work/sign.trace" && fail "pdfsig reached the authentication PIN EF 0018"
# COMPUTE DIGITAL SIGNATURE with the sign key EF 001A selected (docs/card.md). Two: poppler
# (Form.cc, FormWidgetSignature::signDocument) first signs the 4 bytes "PDF\0" to learn the
# signature's size, then the document; both under the one login.
awk '$1 ~ /^00A4020C02/ { ef = substr($1, 11, 4) } $1 ~ /^802A/ { print ef, $2 }' "$work/sign.trace" >"$work/sign.cds"
[ "$(cat "$work/sign.cds")" = $'001A 9000\n001A 9000' ] ||
    fail "expected two 80 2A with the sign key 001A: $(cat "$work/sign.cds")"

grep -qx 'rc=0' "$work/short.out" && fail "pdfsig signed with a 5-character password"
[ -e "$work/short.pdf" ] && fail "pdfsig wrote a PDF with a 5-character password"
segment short >"$work/short.trace"
# (The empty VERIFY 00 20 00 80, which reads the tries left and spends none, may be there.)
[ -z "$(pin_verifies "$work/short.trace")" ] || fail "a 5-character password reached the card"
grep -q 'Password was not accepted' "$work/wrong.out" || fail "pdfsig did not say the password was wrong"
segment wrong >"$work/wrong.trace"
[ "$(pin_verifies "$work/wrong.trace")" = '001B 06 63C4' ] ||
    fail "a wrong password: expected one VERIFY answered 63C4: $(pin_verifies "$work/wrong.trace")"
[ "$(card_signatures "$work/wrong.trace")" = 0 ] || fail "the card signed after a wrong password"
[ -e "$work/wrong.pdf" ] && fail "pdfsig wrote a PDF with a wrong password"
# 5 after the right password, none spent by the malformed one, one by the wrong one.
[ "$(state_value "$work/state" sign_tries)" = 4 ] || fail "sign_tries=$(state_value "$work/state" sign_tries), expected 4"

# The receiving side, no card: a database without the CA, then with it trusted. No -no-ocsp:
# with it, pdfsig 22.12 reports "Unknown issue with Certificate" even for a trusted CA; the test
# certificates name no OCSP responder, so nothing is fetched without it.
vdb=$work/verifier
mkdir -p "$vdb"
certutil -N -d "sql:$vdb" --empty-password || fail "certutil -N"
pdfsig -nssdir "sql:$vdb" "$work/signed.pdf" >"$work/untrusted.out" 2>&1
cat "$work/untrusted.out"
grep -q 'Signature Validation: Signature is Valid' "$work/untrusted.out" || fail "signature not valid"
grep -q 'Certificate Validation: Certificate issuer is unknown' "$work/untrusted.out" ||
    fail "an unknown CA was not reported as such"
# Trusting the CA the way docs/trust.md says: `jpki setup firefox --trust` (the test PKI's CA
# through JPKI_CA_DIR) in a scratch HOME whose Firefox profile pdfsig reads by default.
jpki=$JPKI_BUILD_DIR/bin/jpki
[ -x "$jpki" ] || fail "jpki not built at $jpki"
export HOME=$work/home
ff=$HOME/.mozilla/firefox/abcd.default-esr
mkdir -p "$ff" "$work/ca"
certutil -N -d "sql:$ff" --empty-password || fail "certutil -N"
printf '[Profile0]\nName=default-esr\nIsRelative=1\nPath=abcd.default-esr\nDefault=1\n' >"$HOME/.mozilla/firefox/profiles.ini"
cp "$pki/sign-ca.pem" "$work/ca/sign_ca_test.pem"
JPKI_CA_DIR=$work/ca "$jpki" setup firefox --trust --module "$module" >"$work/setup.out" 2>&1 ||
    { cat "$work/setup.out"; fail "jpki setup firefox --trust failed"; }
grep -qF 'J-LIS signing CA trusted for signatures (test)' "$work/setup.out" || fail "jpki setup did not trust the CA"
pdfsig "$work/signed.pdf" >"$work/verify.out" 2>&1
cat "$work/verify.out"
grep -qF "Signer Certificate Common Name: $(cert_cn sign)" "$work/verify.out" || fail "signer is not the card holder"
grep -q 'Signature Validation: Signature is Valid' "$work/verify.out" || fail "signature not valid"
grep -q 'Certificate Validation: Certificate is Trusted' "$work/verify.out" || fail "certificate not trusted"
grep -q 'Total document signed' "$work/verify.out" || fail "not the whole document signed"

# A byte changed inside the signed range (the page's MediaBox) breaks the signature.
sed 's|/MediaBox \[0 0 595 842\]|/MediaBox [0 0 595 843]|' "$work/signed.pdf" >"$work/changed.pdf"
cmp -s "$work/signed.pdf" "$work/changed.pdf" && fail "could not change the signed PDF"
pdfsig "$work/changed.pdf" >"$work/changed.out" 2>&1
cat "$work/changed.out"
grep -q 'Signature Validation: Digest Mismatch' "$work/changed.out" || fail "a changed PDF was not caught"
echo PASS
