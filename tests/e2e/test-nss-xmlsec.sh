#!/usr/bin/env bash
# XML signature through xmlsec's NSS back end (the path LibreOffice takes to sign an ODF
# document): enveloped XML-DSig, RSA-SHA256, key and certificate found in NSS by nickname on the
# card's sign token, the sign password given through NSS's password callback as LibreOffice's
# dialog does. Verified afterwards by xmlsec1 (OpenSSL back end) against the test signature CA;
# a changed document must fail.
#
# Debian 12's `xmlsec1` program is built for OpenSSL only ("dynamic xmlsec-crypto library
# loading is disabled"), so `xmlsec1 --crypto nss` cannot run; the signer is a small C program
# built here against libxmlsec1-nss, doing what LibreOffice's xmlsecurity does.
source "$(dirname "$0")/lib-nss.sh"
need certutil libnss3-tools
need xmlsec1 xmlsec1
need cc gcc
need pkg-config pkg-config
pkg-config --exists xmlsec1-nss nss 2>/dev/null || skip "xmlsec1-nss development files missing (Debian packages libxmlsec1-dev libnss3-dev)"
e2e_setup

cat >"$work/xmlsig-nss.c" <<'EOF'
/* xmlsig-nss DBDIR NICKNAME PINFILE TEMPLATE OUT: sign TEMPLATE's <Signature> with the key of
   the certificate NICKNAME found through NSS in DBDIR (which loads the PKCS#11 module). */
#include <stdio.h>
#include <string.h>
#include <nss.h>
#include <pk11pub.h>
#include <cert.h>
#include <keyhi.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/crypto.h>
#include <xmlsec/nss/app.h>
#include <xmlsec/nss/pkikeys.h>
#include <xmlsec/nss/x509.h>

static char pin[64];
static int prompts;

static char *password(PK11SlotInfo *slot, PRBool retry, void *arg) {
    (void)arg;
    ++prompts;
    fprintf(stderr, "xmlsig-nss: password asked for token \"%s\"%s\n", PK11_GetTokenName(slot),
            retry ? " (retry: refused)" : "");
    return retry ? NULL : PORT_Strdup(pin);
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: xmlsig-nss DBDIR NICKNAME PINFILE TEMPLATE OUT\n"); return 2; }
    FILE *f = fopen(argv[3], "r");
    if (!f || !fgets(pin, sizeof pin, f)) { fprintf(stderr, "cannot read %s\n", argv[3]); return 2; }
    fclose(f);
    pin[strcspn(pin, "\r\n")] = 0;

    xmlInitParser();
    if (xmlSecInit() < 0 || xmlSecNssAppInit(argv[1]) < 0 || xmlSecNssInit() < 0) {
        fprintf(stderr, "xmlsec/NSS initialisation failed\n"); return 1;
    }
    PK11_SetPasswordFunc(password);
    int rc = 1;
    CERTCertificate *cert = PK11_FindCertFromNickname(argv[2], NULL);
    if (!cert) { fprintf(stderr, "certificate \"%s\" not found\n", argv[2]); goto out; }
    SECKEYPrivateKey *priv = PK11_FindKeyByAnyCert(cert, NULL);
    SECKEYPublicKey *pub = CERT_ExtractPublicKey(cert);
    if (!priv || !pub) { fprintf(stderr, "no private key for \"%s\"\n", argv[2]); goto out; }

    xmlSecKeyDataPtr value = xmlSecNssPKIAdoptKey(priv, pub);
    xmlSecKeyPtr key = xmlSecKeyCreate();
    if (!value || !key || xmlSecKeySetValue(key, value) < 0) { fprintf(stderr, "key setup failed\n"); goto out; }
    xmlSecKeyDataPtr x509 = xmlSecKeyEnsureData(key, xmlSecNssKeyDataX509Id);
    if (!x509 || xmlSecNssKeyDataX509AdoptKeyCert(x509, CERT_DupCertificate(cert)) < 0 ||
        xmlSecNssKeyDataX509AdoptCert(x509, CERT_DupCertificate(cert)) < 0) {
        fprintf(stderr, "certificate setup failed\n"); goto out;
    }

    xmlDocPtr doc = xmlParseFile(argv[4]);
    xmlNodePtr node = doc ? xmlSecFindNode(xmlDocGetRootElement(doc), xmlSecNodeSignature, xmlSecDSigNs) : NULL;
    if (!node) { fprintf(stderr, "no Signature in %s\n", argv[4]); goto out; }
    xmlSecDSigCtxPtr ctx = xmlSecDSigCtxCreate(NULL);
    ctx->signKey = key;
    if (xmlSecDSigCtxSign(ctx, node) < 0) { fprintf(stderr, "signing failed\n"); xmlSecDSigCtxDestroy(ctx); goto out; }
    if (xmlSaveFile(argv[5], doc) < 0) { fprintf(stderr, "cannot write %s\n", argv[5]); goto out; }
    xmlSecDSigCtxDestroy(ctx);
    xmlFreeDoc(doc);
    fprintf(stderr, "xmlsig-nss: signed; password asked %d time(s)\n", prompts);
    rc = 0;
out:
    if (cert) CERT_DestroyCertificate(cert);
    xmlSecNssShutdown();
    xmlSecNssAppShutdown();
    xmlSecShutdown();
    return rc;
}
EOF
# shellcheck disable=SC2046
cc -o "$work/xmlsig-nss" "$work/xmlsig-nss.c" $(pkg-config --cflags --libs xmlsec1-nss nss) ||
    fail "cannot build the xmlsec-nss signer"

cat >"$work/template.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<document xmlns="urn:jpki-e2e:test">
  <content>An ODF-like document signed with the My Number Card.</content>
  <Signature xmlns="http://www.w3.org/2000/09/xmldsig#">
    <SignedInfo>
      <CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>
      <SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
      <Reference URI="">
        <Transforms>
          <Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
        </Transforms>
        <DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
        <DigestValue/>
      </Reference>
    </SignedInfo>
    <SignatureValue/>
    <KeyInfo><X509Data/></KeyInfo>
  </Signature>
</document>
EOF

db=$work/nssdb
nss_new_db "$db"
in_vcard -- setsid -w timeout -k 5 "$E2E_CLIENT_TIMEOUT" \
    "$work/xmlsig-nss" "sql:$db" "$SIGN_NICK" "$work/pin-sign" "$work/template.xml" "$work/signed.xml" \
    </dev/null 2>"$work/signer.err"
rc=$?
cat "$work/signer.err"
[ "$rc" = 0 ] || fail "xmlsec (NSS) could not sign with the card"
grep -q 'password asked 1 time' "$work/signer.err" || fail "the sign password was not asked exactly once"

pin_verifies >"$work/verifies"
cat "$work/verifies"
[ "$(cat "$work/verifies")" = '001B 06 9000' ] || fail "expected exactly one VERIFY, of the sign password"
[ "$(card_signatures)" = 1 ] || fail "expected one signature by the card, got $(card_signatures)"

grep -q '<X509Certificate>' "$work/signed.xml" || fail "the signing certificate is not in the signature"
xmlsec1 --verify --trusted-pem "$pki/sign-ca.pem" "$work/signed.xml" 2>"$work/verify.err" ||
    { cat "$work/verify.err"; fail "xmlsec1 does not verify the signature"; }
cat "$work/verify.err"
# The embedded certificate is the card's signing certificate.
awk 'BEGIN { RS = "</X509Certificate>" } /<X509Certificate>/ { sub(/.*<X509Certificate>/, ""); print; exit }' \
    "$work/signed.xml" | tr -d ' \r\n' | base64 -d >"$work/embedded.der" 2>/dev/null
cmp -s "$work/embedded.der" "$pki/sign-cert.der" || fail "the embedded certificate is not the card's signing certificate"

sed 's/signed with the My Number Card/signed with someone else/' "$work/signed.xml" >"$work/changed.xml"
! xmlsec1 --verify --trusted-pem "$pki/sign-ca.pem" "$work/changed.xml" 2>/dev/null ||
    fail "a changed document verified"
! xmlsec1 --verify --trusted-pem "$pki/auth-ca.pem" "$work/signed.xml" 2>/dev/null ||
    fail "the signature verified against the wrong CA"
echo PASS
