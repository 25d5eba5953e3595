#!/usr/bin/env bash
# Regenerates the test PKI of the virtual My Number Card (docs/card.md "Certificates").
# The output is committed, so tests never depend on this script running; run it only to
# change the test PKI. Every key here is a test-only key: nothing real trusts these CAs.
#
#   tests/pki/make-test-pki.sh [OUTDIR]     (default: the folder holding this script)
#   tests/pki/make-test-pki.sh --card2 [OUTDIR]
#   tests/pki/make-test-pki.sh --reissue END OUTDIR
#
# --reissue writes the card's two certificates again into OUTDIR with the committed keys and CAs
# (copied there too), valid from the usual issue date to END (YYYYMMDDHHMMSSZ), subjectAltName
# and all else unchanged: the `jpki` tests' expiring and expired cards (tests/cli/pki-variants.sh;
# jpki-vcard --pki-dir OUTDIR).
#
# OUTDIR/card2/ holds a second card's set (the second-reader fault test, jpki-vcard --pki-dir):
# its own auth/sign keys and certificates, issued by the same two CAs (copied in, without their
# keys). The full run writes both; --card2 writes only card2/ from the CAs already in OUTDIR.
set -euo pipefail

card2_only=0
reissue_end=""
if [ "${1:-}" = --card2 ]; then card2_only=1; shift; fi
if [ "${1:-}" = --reissue ]; then
    reissue_end=${2:?--reissue END OUTDIR}
    shift 2
    [ -n "${1:-}" ] || { echo "--reissue END OUTDIR: OUTDIR missing" >&2; exit 2; }
fi
out=${1:-$(cd "$(dirname "$0")" && pwd)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# The fictitious card holder. Birth date 1985-07-14 (Showa 60): era 3 in the JPKI encoding.
holder_name='山田 花子'
holder_birth='319850714'
holder_sex='2'                      # JIS X 0303: 1 male, 2 female, 9 not applicable
holder_address='東京都架空区試験町一丁目2番3号'
# Certificates run to the holder's 5th birthday after issue (23:59:59 JST).
issued=20250301000000Z
expires=20290714145959Z

cat >"$work/ca.cnf" <<CNF
[ ca ]
default_ca = test_ca
[ test_ca ]
database       = $work/index.txt
new_certs_dir  = $work
serial         = $work/serial
default_md     = sha256
policy         = any
unique_subject = no
copy_extensions = none
utf8           = yes
string_mask    = utf8only
[ any ]
countryName            = optional
organizationName       = optional
organizationalUnitName = optional
localityName           = optional
commonName             = optional
[ req ]
distinguished_name = dn
string_mask = utf8only
utf8 = yes
[ dn ]
[ v3_ca ]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
[ v3_auth ]
basicConstraints       = CA:false
keyUsage               = critical, digitalSignature
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
[ v3_sign ]
basicConstraints       = CA:false
keyUsage               = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
certificatePolicies    = 1.2.392.200149.8.5.1.0.20
subjectAltName         = @holder
[ holder ]
# docs/card.md: otherName { OID, [0] EXPLICIT UTF8String }, arc 1.2.392.200149.8.5.5
otherName.1 = 1.2.392.200149.8.5.5.1;FORMAT:UTF8,UTF8:$holder_name
otherName.2 = 1.2.392.200149.8.5.5.2;FORMAT:UTF8,UTF8:0
otherName.3 = 1.2.392.200149.8.5.5.3;FORMAT:UTF8,UTF8:$holder_sex
otherName.4 = 1.2.392.200149.8.5.5.4;FORMAT:UTF8,UTF8:$holder_birth
otherName.5 = 1.2.392.200149.8.5.5.5;FORMAT:UTF8,UTF8:$holder_address
otherName.6 = 1.2.392.200149.8.5.5.6;FORMAT:UTF8,UTF8:0
CNF

rsa_key() {  # RSA-2048, e=65537, PKCS#8 PEM
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -pkeyopt rsa_keygen_pubexp:65537 -out "$1" 2>/dev/null
    chmod 644 "$1"   # test-only keys: any user running the tests reads them
}

# issue NAME KEY SUBJECT SIGNER_NAME EXTENSIONS START END [DIR]  (SIGNER_NAME = NAME: self-signed;
# KEY and the output are in DIR, default OUTDIR; the signer is always in OUTDIR)
issue() {
    local name=$1 key=$2 subject=$3 signer=$4 ext=$5 start=$6 end=$7 dir=${8:-$out}
    : >"$work/index.txt"
    openssl rand -hex 8 >"$work/serial"
    openssl req -new -config "$work/ca.cnf" -key "$dir/$key" -subj "$subject" \
        -utf8 -out "$work/$name.csr"
    local signer_args=(-cert "$out/$signer.pem" -keyfile "$out/$signer-key.pem")
    [ "$signer" = "$name" ] && signer_args=(-selfsign -keyfile "$dir/$key")
    openssl ca -batch -config "$work/ca.cnf" -notext "${signer_args[@]}" -extensions "$ext" \
        -startdate "$start" -enddate "$end" -in "$work/$name.csr" -out "$dir/$name.pem" 2>/dev/null
    openssl x509 -in "$dir/$name.pem" -outform DER -out "$dir/$name.der"
}

ou_jlis='/OU=Japan Agency for Local Authority Information Systems'
if [ -n "$reissue_end" ]; then
    pki=$(cd "$(dirname "$0")" && pwd)
    for f in auth-ca.pem auth-ca.der auth-ca-key.pem sign-ca.pem sign-ca.der sign-ca-key.pem auth-key.pem sign-key.pem; do
        cp "$pki/$f" "$out/$f"
    done
    issue auth-cert auth-key.pem "/C=JP/CN=20250301AUTH0JPKITEST0000001A" auth-ca v3_auth "$issued" "$reissue_end"
    issue sign-cert sign-key.pem "/C=JP/L=Tokyo-to/L=Kakuu-ku/CN=20250301SIGN0JPKITEST0000001S" sign-ca v3_sign \
        "$issued" "$reissue_end"
    exit 0
fi
if [ "$card2_only" = 0 ]; then
    for role in auth sign; do rsa_key "$out/$role-ca-key.pem"; rsa_key "$out/$role-key.pem"; done
    issue auth-ca auth-ca-key.pem "/C=JP/O=JPKI-TEST/OU=JPKI for user authentication$ou_jlis" auth-ca v3_ca \
        20230101000000Z 20430101000000Z
    issue sign-ca sign-ca-key.pem "/C=JP/O=JPKI-TEST/OU=JPKI for digital signature$ou_jlis" sign-ca v3_ca \
        20230101000000Z 20430101000000Z
    issue auth-cert auth-key.pem "/C=JP/CN=20250301AUTH0JPKITEST0000001A" auth-ca v3_auth "$issued" "$expires"
    issue sign-cert sign-key.pem "/C=JP/L=Tokyo-to/L=Kakuu-ku/CN=20250301SIGN0JPKITEST0000001S" sign-ca v3_sign \
        "$issued" "$expires"
fi

# The second card: same CAs, keys and certificates of its own.
card2="$out/card2"
mkdir -p "$card2"
for role in auth sign; do
    rsa_key "$card2/$role-key.pem"
    cp "$out/$role-ca.der" "$out/$role-ca.pem" "$card2/"
done
issue auth-cert auth-key.pem "/C=JP/CN=20250301AUTH0JPKITEST0000002A" auth-ca v3_auth "$issued" "$expires" "$card2"
issue sign-cert sign-key.pem "/C=JP/L=Tokyo-to/L=Kakuu-ku/CN=20250301SIGN0JPKITEST0000002S" sign-ca v3_sign \
    "$issued" "$expires" "$card2"
echo "test PKI written to $out"
