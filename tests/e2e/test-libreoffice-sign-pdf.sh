#!/usr/bin/env bash
# LibreOffice (headless, UNO) signs a PDF export with the card's signature key through
# jpki-pkcs11.so: NSS database named by MOZILLA_CERTIFICATE_FOLDER, the module added with
# modutil, PDF filter options SignPDF + SignCertificateSubjectName (LibreOffice >= 7.4).
# Checks: the signature is valid and chains to the test signing CA (pdfsig, and openssl cms
# independently of NSS); soffice.bin used only the signature slot (no PIN ever sent to the
# authentication PIN EF 0018) and sent the signature PIN exactly once; nothing left running.
source "$(dirname "${BASH_SOURCE[0]}")/libreoffice_common.sh"
lo_require

out=$(mktemp -d "${TMPDIR:-/tmp}/e2e-libreoffice-sign.XXXXXX") || fail "mktemp"
trap 'rm -rf "$out"' EXIT

lo_session "$out" ABC123
rc=$?
[ -s "$out/result.json" ] || fail "the LibreOffice helper wrote no result (exit $rc)"
echo "--- helper result"; cat "$out/result.json"; echo
[ "$rc" = 0 ] || fail "the LibreOffice run failed (exit $rc)"
lo_check_nothing_left "$out"

subject=$(lo_result "$out" 'r["subject"]')
[ "$(lo_result "$out" 'r["steps"]["login_and_list"]["ok"]')" = True ] ||
    fail "LibreOffice could not log in / list the signing certificate: $(lo_result "$out" 'r["steps"]["login_and_list"]')"
[ "$(lo_result "$out" '[s for s in r["steps"]["login_and_list"]["subjects"]]')" = "['$subject']" ] ||
    fail "LibreOffice's personal certificates are not exactly the card's signing certificate ($subject)"
[ "$(lo_result "$out" 'len(r["pin_prompts"])')" = 1 ] || fail "the PIN was asked for more than once"
[ "$(lo_result "$out" 'r["pin_prompts"][0][0]')" = "$sign_token" ] ||
    fail "the PIN prompt was not for the signature token"
[ "$(lo_result "$out" 'r["steps"]["pdf_export"]["ok"]')" = True ] ||
    fail "signed PDF export failed: $(lo_result "$out" 'r["steps"]["pdf_export"]')"
[ "$(lo_result "$out" 'r["soffice_exit"]')" = 0 ] || fail "soffice.bin did not exit cleanly"
pdf=$out/work/signed.pdf

# The signature, checked by poppler (NSS) against a database trusting only the test signing CA.
mkdir "$out/verify-nss"
certutil -N -d "sql:$out/verify-nss" --empty-password &&
    certutil -A -d "sql:$out/verify-nss" -n jpki-test-sign-ca -t C,C,C -i "$pki/sign-ca.pem" ||
    fail "cannot build the verifying NSS database"
pdfsig -nssdir "sql:$out/verify-nss" "$pdf" >"$out/pdfsig.txt" 2>&1
cat "$out/pdfsig.txt"
grep -q 'Signature Validation: Signature is Valid' "$out/pdfsig.txt" || fail "pdfsig: signature not valid"
grep -q 'Certificate Validation: Certificate is Trusted' "$out/pdfsig.txt" ||
    fail "pdfsig: signer certificate does not chain to the test signing CA"
grep -q "Signer full Distinguished Name: $subject" "$out/pdfsig.txt" || fail "pdfsig: wrong signer"
grep -q 'Total document signed' "$out/pdfsig.txt" || fail "pdfsig: not the whole document is signed"

# The same signature with OpenSSL: the CMS over the /ByteRange, the card's certificate as signer.
"$python" - "$pdf" "$out" <<'PY' || fail "cannot extract the PDF signature"
import re, sys
pdf, out = open(sys.argv[1], "rb").read(), sys.argv[2]
m = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
a, b, c, d = map(int, m.groups())
open(out + "/signed-bytes", "wb").write(pdf[a:a + b] + pdf[c:c + d])
contents = pdf[a + b:c].strip().lstrip(b"<").rstrip(b">")
# NSS writes BER with indefinite lengths, zero-padded to the reserved size: OpenSSL reads
# the object and ignores the padding after it.
open(out + "/signature.der", "wb").write(bytes.fromhex(contents.decode()))
PY
openssl cms -verify -binary -inform DER -in "$out/signature.der" -content "$out/signed-bytes" \
    -CAfile "$pki/sign-ca.pem" -purpose any -certsout "$out/signer.pem" -out /dev/null ||
    fail "openssl cms: the PDF signature does not verify"
openssl x509 -in "$out/signer.pem" -outform DER -out "$out/signer.der" &&
    cmp -s "$out/signer.der" "$pki/sign-cert.der" ||
    fail "openssl cms: the signer is not the card's signing certificate"

# The card's view of LibreOffice's run: the signature slot only, one PIN, at least one signature.
echo "--- PIN VERIFYs during the LibreOffice run (EF status)"; lo_pin_verifies "$out/lo-trace"
[ -z "$(lo_pin_verifies "$out/lo-trace" | awk '$1 == "0018"')" ] ||
    fail "a PIN was sent to the authentication PIN EF 0018 during the LibreOffice run"
grep -q '^00A4020C020018' "$out/lo-trace" && fail "soffice.bin selected the authentication PIN EF 0018"
[ "$(lo_pin_verifies "$out/lo-trace" | awk '$1 == "001B" && $2 == "9000"' | wc -l)" = 1 ] ||
    fail "expected exactly one successful signature-PIN VERIFY"
[ "$(lo_pin_verifies "$out/lo-trace" | wc -l)" = 1 ] || fail "more than one PIN VERIFY"
grep -q '^802A' "$out/lo-trace" || fail "no COMPUTE DIGITAL SIGNATURE in LibreOffice's run"
grep -q '^sign_tries=5$' "$out/state" 2>/dev/null || [ ! -e "$out/state" ] ||
    fail "the signature PIN counter moved: $(cat "$out/state")"
echo "PASS: LibreOffice signed a PDF through jpki-pkcs11.so; pdfsig and openssl verify it"
