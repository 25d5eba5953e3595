#!/usr/bin/env bash
# NSS CMS signing (the path LibreOffice takes to sign a PDF): `cmsutil -S` with the signing
# certificate on the card, detached, SHA-256, signing time. Verified by OpenSSL against the test
# signature CA, and by NSS itself (`cmsutil -D`) in a separate database where only that CA is
# trusted; a changed document and an untrusted CA must be caught.
source "$(dirname "$0")/lib-nss.sh"
need certutil libnss3-tools
need cmsutil libnss3-tools
need openssl openssl
e2e_setup

db=$work/nssdb
nss_new_db "$db"
head -c 100000 /dev/urandom >"$work/doc.pdf"
sign_cn=$(cert_cn sign)

# As NSS's own tools see the card ("both"), and as LibreOffice does (process soffice.bin: the
# sign slot only).
mkdir -p "$work/bin"
ln -s "$(command -v cmsutil)" "$work/bin/soffice.bin"
sign_cms() {  # sign_cms PROGRAM OUT [-H hash]
    local prog=$1 out=$2; shift 2
    nss "$prog" -S -N "$SIGN_NICK" -Y NONE -G -T "$@" -d "sql:$db" -f "$work/pin-sign" \
        -i "$work/doc.pdf" -o "$out"
}
export -f sign_cms nss
export db work SIGN_NICK E2E_CLIENT_TIMEOUT
in_vcard -- bash -c "
    sign_cms cmsutil '$work/sig-sha256.p7' -H SHA256 || { echo 'cmsutil -S (SHA256) failed' >&2; exit 1; }
    sign_cms '$work/bin/soffice.bin' '$work/sig-lo.p7' -H SHA512 || { echo 'cmsutil -S as soffice.bin failed' >&2; exit 1; }
" || fail "cmsutil could not sign with the card"

pin_verifies >"$work/verifies"
cat "$work/verifies"
[ "$(cat "$work/verifies")" = $'001B 06 9000\n001B 06 9000' ] ||
    fail "expected one sign-password VERIFY per signature and nothing else"
[ "$(card_signatures)" = 2 ] || fail "expected two signatures by the card, got $(card_signatures)"

# A receiving side with no card: a fresh database trusting only the test signature CA.
vdb=$work/verifier
mkdir -p "$vdb"
certutil -N -d "sql:$vdb" --empty-password || fail "certutil -N"
udb=$work/untrusting
mkdir -p "$udb"
certutil -N -d "sql:$udb" --empty-password || fail "certutil -N"
certutil -A -d "sql:$vdb" -n 'JPKI test signature CA' -t ',C,' -i "$pki/sign-ca.pem" || fail "certutil -A"
head -c 99999 "$work/doc.pdf" >"$work/changed.pdf"; printf 'X' >>"$work/changed.pdf"

for sig in sig-sha256 sig-lo; do
    openssl cms -cmsout -print -inform DER -in "$work/$sig.p7" >"$work/$sig.txt" || fail "$sig: not CMS"
    grep -q 'signingTime' "$work/$sig.txt" || fail "$sig: no signing time"
    grep -qF "$sign_cn" "$work/$sig.txt" || fail "$sig: signer is not the signing certificate"
    # Detached: the document is not inside.
    grep -q 'eContent: <ABSENT>' "$work/$sig.txt" || fail "$sig: not detached"

    openssl cms -verify -binary -inform DER -in "$work/$sig.p7" -content "$work/doc.pdf" \
        -CAfile "$pki/sign-ca.pem" -out /dev/null || fail "$sig: openssl cms -verify failed"
    ! openssl cms -verify -binary -inform DER -in "$work/$sig.p7" -content "$work/changed.pdf" \
        -CAfile "$pki/sign-ca.pem" -out /dev/null 2>/dev/null || fail "$sig: a changed document verified"

    cmsutil -D -d "sql:$vdb" -i "$work/$sig.p7" -c "$work/doc.pdf" -h 2 -n >"$work/$sig.nss" ||
        fail "$sig: cmsutil -D failed"
    cat "$work/$sig.nss"
    grep -qF "signer0.id=\"$sign_cn\"" "$work/$sig.nss" || fail "$sig: NSS does not see the card holder as signer"
    grep -q 'signer0.status=GoodSignature' "$work/$sig.nss" || fail "$sig: NSS does not accept the signature"
    cmsutil -D -d "sql:$vdb" -i "$work/$sig.p7" -c "$work/changed.pdf" -h 2 -n >"$work/$sig.changed" 2>&1
    grep -q 'signer0.status=DigestMismatch' "$work/$sig.changed" || fail "$sig: NSS accepted a changed document"
    cmsutil -D -d "sql:$udb" -i "$work/$sig.p7" -c "$work/doc.pdf" -h 2 -n >"$work/$sig.untrusted" 2>&1
    grep -q 'signer0.status=SigningCertNotTrusted' "$work/$sig.untrusted" || fail "$sig: NSS trusted an unknown CA"
done
grep -qi 'sha512' "$work/sig-lo.txt" || fail "sig-lo: not a SHA-512 signature"
echo PASS
