#!/usr/bin/env bash
# LibreOffice's own ODF document signatures (what File ▸ Digital Signatures ▸ Sign Document
# makes) with the card's signing key through jpki-pkcs11.so, LibreOffice 7.4 headless.
#
# libreoffice_sign_odf.py signs a .odt inside soffice.bin through LibreOffice's signing
# service (XDocumentDigitalSignatures.signDocumentWithCertificate, the dialog's own
# DocumentSignatureManager::add; see libreoffice_odf_signer.py why not the dialog), twice,
# then changes the document. The NSS database trusts the test signing CA, as a user trusts the
# J-LIS signing CA (docs/trust.md). Checks:
# - LibreOffice reports each signature valid, by the card's certificate, the certificate
#   trusted, and the document's signature state OK (1); after the change, not valid and BROKEN (2);
# - xmlsec1 (OpenSSL, independent of NSS and LibreOffice) verifies every signature of
#   META-INF/documentsignatures.xml against the test signing CA, not against the authentication
#   CA, and fails on the changed document;
# - the XAdES part names the card's certificate (xades:SigningCertificate: SHA-256 digest,
#   issuer serial) and KeyInfo carries it;
# - the card did both signatures (COMPUTE DIGITAL SIGNATURE on the signing key EF 001A, 9000),
#   after exactly one signature-PIN VERIFY, given by the PIN answerer inside soffice.bin (the
#   PIN is on no command line); the authentication PIN EF 0018 was never touched.
# LibreOffice 7.4's signDocumentWithCertificate keeps only the signature it adds (nothing
# reads the existing ones before DocumentSignatureManager::add writes them back); only the
# dialog, which headless LibreOffice cannot show, adds a second one beside the first. The test
# checks every signature present, and says when the first one was dropped.
source "$(dirname "${BASH_SOURCE[0]}")/libreoffice_common.sh"
lo_require
command -v xmlsec1 >/dev/null || fail "xmlsec1 not found (Debian: xmlsec1)"

out=$(mktemp -d "${TMPDIR:-/tmp}/e2e-libreoffice-odf.XXXXXX") || fail "mktemp"
trap 'rm -rf "$out"' EXIT

# shellcheck disable=SC2034  # read by lo_session
LO_DRIVER=libreoffice_sign_odf.py
# shellcheck disable=SC2034  # read by lo_session
LO_TRUST_SIGN_CA=1
lo_session "$out" ABC123
rc=$?
[ -s "$out/result.json" ] || fail "the LibreOffice helper wrote no result (exit $rc)"
echo "--- helper result"; cat "$out/result.json"; echo
[ "$rc" = 0 ] || fail "the LibreOffice run failed (exit $rc)"
lo_check_nothing_left "$out"
[ "$(lo_result "$out" 'r["soffice_exit"]')" = 0 ] || fail "soffice.bin did not exit cleanly"
work=$out/work

# LibreOffice's view, from the helper's result: CertificateValidity VALID = 0; the
# document's SignatureState OK = 1, BROKEN = 2 (NOTVALIDATED = 4: the CA is not trusted).
"$python" - "$out/result.json" "$pki/sign-cert.der" "$sign_token" <<'PY' || fail "LibreOffice's verdicts are not the expected ones (above)"
import hashlib, json, sys
r, card = json.load(open(sys.argv[1])), hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
steps, problems = r["steps"], []
def want(cond, what):
    if not cond:
        problems.append(what)
for name in ("login_and_list", "sign1", "verify1", "state1", "sign2", "verify2", "state2",
             "change", "verify_changed", "state_changed"):
    want(steps.get(name, {}).get("ok"), f"step {name}: {steps.get(name)}")
if not problems:
    want(steps["login_and_list"]["subjects"] == [r["subject"]],
         "LibreOffice's personal certificates are not exactly the card's signing certificate")
    want(r["pin_prompts"] == [[sys.argv[3], "False"]],
         f"not exactly one PIN prompt, for the signature token: {r['pin_prompts']}")
    for n in "12":
        sigs = steps["verify" + n]["signatures"]
        want(steps["sign" + n]["signed"], f"signing {n}: signDocumentWithCertificate returned false")
        want(sigs and all(s["valid"] for s in sigs), f"signing {n}: a signature is not valid")
        want(sigs and all(s["certificate_status"] == 0 for s in sigs),
             f"signing {n}: the signing certificate is not trusted")
        want(sigs and all(s["signer_sha256"] == card for s in sigs),
             f"signing {n}: a signer is not the card's signing certificate")
        want(steps["state" + n]["state"] == 1, f"signing {n}: signature state not OK: {steps['state' + n]}")
    want(len(steps["verify1"]["signatures"]) == 1, "the first signing did not make one signature")
    want(not all(s["valid"] for s in steps["verify_changed"]["signatures"]),
         "the changed document's signatures are reported valid")
    want(steps["state_changed"]["state"] == 2,
         f"the changed document's signature state is not BROKEN: {steps['state_changed']}")
for p in problems:
    print("LibreOffice:", p)
if not problems:
    print("LibreOffice: both signings valid, signer the card, CA trusted; the change is seen (BROKEN)")
sys.exit(1 if problems else 0)
PY
signatures2=$(lo_result "$out" 'len(r["steps"]["verify2"]["signatures"])')

# Each document unpacked as it is in the zip, and xmlsec1 run in that folder: it resolves the
# signature's relative references (content.xml, META-INF/manifest.xml, ...) from the current
# folder, so they name the document's parts.
# Then one xmlsec1 run per <Signature> (--node-id); the same-document references
# (#ID_..., #idSignedProperties_...) resolve without --id-attr: xmlsec1 takes "Id" attributes
# as IDs by default.
unpack() {
    "$python" - "$1" "$2" <<'PY' || fail "cannot unpack $1"
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
    cp "$2/META-INF/documentsignatures.xml" "$2/signatures.xml"
}
signature_ids() {
    "$python" - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
for s in ET.parse(sys.argv[1]).getroot().iter("{http://www.w3.org/2000/09/xmldsig#}Signature"):
    print(s.get("Id"))
PY
}
xmlsec_verify() {  # DIR ID CA.pem
    (cd "$1" && xmlsec1 --verify --trusted-pem "$3" --id-attr:Id 'http://www.w3.org/2000/09/xmldsig#:Signature' \
        --node-id "$2" signatures.xml >"xmlsec-$2.log" 2>&1)
}
for doc in signed signed2 changed; do unpack "$work/$doc.odt" "$out/$doc"; done
for doc in signed signed2; do
    ids=$(signature_ids "$out/$doc/signatures.xml")
    [ -n "$ids" ] || fail "$doc.odt: no signature in META-INF/documentsignatures.xml"
    for id in $ids; do
        xmlsec_verify "$out/$doc" "$id" "$pki/sign-ca.pem" ||
            { cat "$out/$doc/xmlsec-$id.log"; fail "xmlsec1: $doc.odt signature $id does not verify"; }
        grep -q 'SignedInfo References (ok/all): \([0-9]*\)/\1$' "$out/$doc/xmlsec-$id.log" ||
            fail "xmlsec1: not every reference of $doc.odt signature $id verified"
        ! xmlsec_verify "$out/$doc" "$id" "$pki/auth-ca.pem" ||
            fail "xmlsec1: $doc.odt signature $id verifies against the authentication CA"
    done
    echo "xmlsec1: $doc.odt: $(echo "$ids" | wc -w) signature(s) verified against the test signing CA"
done
[ "$(signature_ids "$out/signed2/signatures.xml" | wc -l)" = "$signatures2" ] ||
    fail "LibreOffice and xmlsec1 count the signatures of signed2.odt differently"
for id in $(signature_ids "$out/changed/signatures.xml"); do
    ! xmlsec_verify "$out/changed" "$id" "$pki/sign-ca.pem" || fail "xmlsec1: the changed document's signature $id verifies"
done

# XAdES: the signing certificate named in the signed properties, and carried in KeyInfo.
for doc in signed signed2; do
"$python" - "$out/$doc/signatures.xml" "$pki/sign-cert.der" <<'PY' ||
import base64, hashlib, sys, subprocess, xml.etree.ElementTree as ET
ds, xd = "{http://www.w3.org/2000/09/xmldsig#}", "{http://uri.etsi.org/01903/v1.3.2#}"
root, der = ET.parse(sys.argv[1]).getroot(), open(sys.argv[2], "rb").read()
serial = int(subprocess.run(["openssl", "x509", "-inform", "DER", "-in", sys.argv[2], "-noout",
                             "-serial"], capture_output=True, text=True, check=True)
             .stdout.strip().split("=")[1], 16)
for sig in root.iter(ds + "Signature"):
    certs = sig.findall(f".//{xd}SignedProperties//{xd}SigningCertificate/{xd}Cert")
    assert len(certs) == 1, f"{len(certs)} xades:SigningCertificate/Cert"
    digest = certs[0].find(f"{xd}CertDigest/{ds}DigestValue").text.strip()
    assert certs[0].find(f"{xd}CertDigest/{ds}DigestMethod").get("Algorithm") == \
        "http://www.w3.org/2001/04/xmlenc#sha256"
    assert base64.b64decode(digest) == hashlib.sha256(der).digest(), "CertDigest"
    assert int(certs[0].find(f"{xd}IssuerSerial/{ds}X509SerialNumber").text) == serial, "serial"
    keyinfo = [base64.b64decode("".join(c.text.split()))
               for c in sig.findall(f"{ds}KeyInfo/{ds}X509Data/{ds}X509Certificate")]
    assert keyinfo == [der], "KeyInfo/X509Certificate"
    refs = [r.get("Type") for r in sig.findall(f"{ds}SignedInfo/{ds}Reference")]
    assert "http://uri.etsi.org/01903#SignedProperties" in refs, "SignedProperties not signed"
print(sys.argv[1].split("/")[-2] + ".odt: XAdES SigningCertificate (SHA-256, issuer serial)"
      " and KeyInfo are the card's certificate")
PY
    fail "$doc.odt: the XAdES part does not carry the card's signing certificate"
done

# The second signing made a new signature (not the first one written again).
"$python" - "$out/signed/signatures.xml" "$out/signed2/signatures.xml" <<'PY' ||
import sys, xml.etree.ElementTree as ET
values = [[v.text for v in ET.parse(f).getroot().iter("{http://www.w3.org/2000/09/xmldsig#}SignatureValue")]
          for f in sys.argv[1:]]
sys.exit(0 if values[1][-1] not in values[0] else 1)
PY
    fail "signed2.odt's newest signature is the first one"
if [ "$signatures2" = 1 ]; then
    echo "NOTE: signDocumentWithCertificate replaced the first signature with the second" \
        "(LibreOffice 7.4, ODF $(lo_result "$out" 'r["odf_version"]'); File ▸ Digital Signatures keeps both)"
fi

# The card's view: one PIN, both signatures by the signing key, never the authentication PIN.
echo "--- PIN VERIFYs during the LibreOffice run (EF status)"; lo_pin_verifies "$out/lo-trace"
[ "$(lo_pin_verifies "$out/lo-trace")" = "001B 9000" ] ||
    fail "expected exactly one VERIFY, of the signature PIN (EF 001B), answered 9000"
grep -q '^00A4020C020018' "$out/lo-trace" && fail "soffice.bin selected the authentication PIN EF 0018"
signs=$(awk '/^00A4020C02/ { ef = substr($1, 11, 4) }
             /^802A/ && ef == "001A" && $2 == "9000" { n++ } END { print n + 0 }' "$out/lo-trace")
[ "$signs" = 2 ] || fail "expected 2 COMPUTE DIGITAL SIGNATUREs with the signing key (EF 001A), got $signs"
[ "$(grep -c '^802A' "$out/lo-trace")" = 2 ] || fail "the card signed something else too"
echo "PASS: LibreOffice signed an ODF document with the card ($signatures2 signature(s) after" \
    "the second signing); LibreOffice and xmlsec1 verify it, and both see the change"
