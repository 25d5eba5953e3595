#!/usr/bin/env bash
# S/MIME signed mail with the signing certificate on the card, made by NSS's CMS code (the code
# Thunderbird signs mail with; issue 10, docs/thunderbird.md). test-nss-cms.sh covers the CMS
# itself (detached, digests, changed content, untrusted CA); this test puts the signatures into
# the two mail shapes of RFC 8551 and checks them as mail readers do:
# - multipart/signed (clear-signed, detached signature, what Thunderbird sends), and
# - application/pkcs7-mime; smime-type=signed-data (the text inside the signature),
# both signed by the card (one signature password VERIFY and one 80 2A each), both verified by
# `openssl smime -verify` against the test signature CA, and by NSS (`cmsutil -D`) where only that
# CA is trusted; a body changed in transit fails. Runs as process "thunderbird" too, to show the
# slots Thunderbird sees by default (both tokens) sign mail with the password file's one password.
source "$(dirname "$0")/lib-nss.sh"
need certutil libnss3-tools
need cmsutil libnss3-tools
need openssl openssl
e2e_setup

db=$work/nssdb
nss_new_db "$db"
sign_cn=$(cert_cn sign)

# The MIME entity to sign, in canonical form (CRLF line ends, RFC 8551 §3.1.1).
printf '%s\r\n' 'Content-Type: text/plain; charset=UTF-8' 'Content-Transfer-Encoding: 8bit' '' \
    '契約書の件、承知しました。' 'This message is signed with a My Number Card.' >"$work/part"

mkdir -p "$work/bin"
ln -s "$(command -v cmsutil)" "$work/bin/thunderbird"
export db work SIGN_NICK E2E_CLIENT_TIMEOUT
export -f nss
in_vcard -- bash -c '
    # -T: detached (for multipart/signed); without it the part is inside the signature. -Y NONE:
    # no encryption-key preference (the card cannot decrypt, and cmsutil would otherwise name the
    # signing certificate, which NSS refuses for encryption: SEC_ERROR_INADEQUATE_KEY_USAGE).
    nss "$work/bin/thunderbird" -S -N "$SIGN_NICK" -Y NONE -H SHA256 -G -P -T -d "sql:$db" -f "$work/pin-sign" \
        -i "$work/part" -o "$work/detached.p7s" || { echo "detached signature failed" >&2; exit 1; }
    nss cmsutil -S -N "$SIGN_NICK" -Y NONE -H SHA256 -G -P -d "sql:$db" -f "$work/pin-sign" \
        -i "$work/part" -o "$work/opaque.p7m" || { echo "opaque signature failed" >&2; exit 1; }
' || fail "cmsutil could not sign with the card"
[ "$(pin_verifies)" = $'001B 06 9000\n001B 06 9000' ] || fail "expected one signature password VERIFY per mail: $(pin_verifies)"
[ "$(card_signatures)" = 2 ] || fail "expected two signatures by the card, got $(card_signatures)"

# The two mails.
boundary=jpki-smime-boundary
{
    printf '%s\r\n' 'From: hanako@example.invalid' 'To: taro@example.invalid' 'Subject: signed' \
        'MIME-Version: 1.0' \
        "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"$boundary\"" \
        '' "--$boundary"
    cat "$work/part"
    printf '\r\n%s\r\n' "--$boundary"
    printf '%s\r\n' 'Content-Type: application/pkcs7-signature; name=smime.p7s' \
        'Content-Transfer-Encoding: base64' 'Content-Disposition: attachment; filename=smime.p7s' ''
    base64 -w 76 "$work/detached.p7s" | sed 's/$/\r/'
    printf '\r\n%s\r\n' "--$boundary--"
} >"$work/clear.eml"
{
    printf '%s\r\n' 'From: hanako@example.invalid' 'To: taro@example.invalid' 'Subject: signed' \
        'MIME-Version: 1.0' \
        'Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m' \
        'Content-Transfer-Encoding: base64' 'Content-Disposition: attachment; filename=smime.p7m' ''
    base64 -w 76 "$work/opaque.p7m" | sed 's/$/\r/'
} >"$work/opaque.eml"

for mail in clear opaque; do
    openssl smime -verify -in "$work/$mail.eml" -CAfile "$pki/sign-ca.pem" -out "$work/$mail.body" \
        2>"$work/$mail.verify" || { cat "$work/$mail.verify"; fail "$mail: openssl smime -verify failed"; }
    grep -q 'Verification successful' "$work/$mail.verify" || fail "$mail: openssl did not say it verified"
    grep -q '承知しました' "$work/$mail.body" || fail "$mail: the body did not come out"
    openssl smime -pk7out -in "$work/$mail.eml" | openssl pkcs7 -print_certs -noout >"$work/$mail.certs" ||
        fail "$mail: no certificates in the signature"
    grep -qF "$sign_cn" "$work/$mail.certs" || fail "$mail: the signing certificate is not in the mail"
done

# NSS on the receiving side (as Thunderbird reads it): only the test signature CA, trusted for mail.
vdb=$work/verifier
mkdir -p "$vdb"
certutil -N -d "sql:$vdb" --empty-password || fail "certutil -N"
certutil -A -d "sql:$vdb" -n 'JPKI test signature CA' -t ',C,' -i "$pki/sign-ca.pem" || fail "certutil -A"
cmsutil -D -d "sql:$vdb" -i "$work/detached.p7s" -c "$work/part" -n -h 2 >"$work/clear.nss" ||
    fail "clear: cmsutil -D failed"
cmsutil -D -d "sql:$vdb" -i "$work/opaque.p7m" -n -h 2 >"$work/opaque.nss" || fail "opaque: cmsutil -D failed"
cmsutil -D -d "sql:$vdb" -i "$work/opaque.p7m" -o "$work/opaque.nssbody" || fail "opaque: cmsutil -D (content) failed"
for mail in clear opaque; do
    echo "== $mail"; cat "$work/$mail.nss"
    grep -qF "signer0.id=\"$sign_cn\"" "$work/$mail.nss" || fail "$mail: NSS does not see the card holder as signer"
    grep -q 'signer0.status=GoodSignature' "$work/$mail.nss" || fail "$mail: NSS does not accept the signature"
done
cmp -s "$work/opaque.nssbody" "$work/part" || fail "opaque: NSS did not give back the signed part"

# Changed in transit: one word of the clear-signed body.
sed 's/signed with/signed by/' "$work/clear.eml" >"$work/changed.eml"
! openssl smime -verify -in "$work/changed.eml" -CAfile "$pki/sign-ca.pem" -out /dev/null 2>/dev/null ||
    fail "a changed mail verified"
echo PASS
