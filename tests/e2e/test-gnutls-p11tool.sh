#!/usr/bin/env bash
# e2e.gnutls-p11tool: GnuTLS finds jpki-pkcs11 through its p11-kit registration (nothing named on
# the command line). p11tool (process name "p11tool": both slots) lists both tokens and, across all
# tokens, the certificates readable without PIN (auth certificate and both CA certificates, not
# the signing certificate); after login the signing certificate too. Exported certificates match
# the card's. GnuTLS signs with both keys (p11tool --test-sign), and certtool makes a detached CMS
# signature with the signature key that openssl verifies against the test CA. The listing commands of
# docs/gnutls-p11kit.md, beside the machine's own p11-kit modules, list only the card's certificates.
source "$(dirname "${BASH_SOURCE[0]}")/lib-p11kit.sh"
need p11tool gnutls-bin
need certtool gnutls-bin

auth_uri='pkcs11:token=JPKI%20%28User%20Authentication%20PIN%29'
sign_uri='pkcs11:token=JPKI%20%28Digital%20Signature%20PIN%29'
head -c 5000 /dev/urandom >"$work/data"
p11kit_registry "$work/registry"
p11kit_isolate "$work/registry"

# One card session; each step's output goes to its own file.
cat >"$work/steps.sh" <<EOF
set -u
cd '$work'
p11tool --list-tokens >tokens.txt 2>&1 || echo list-tokens >>failed
p11tool --list-all-certs 'pkcs11:' >certs.txt 2>&1 || echo list-all-certs >>failed
GNUTLS_PIN=$sign_pin p11tool --login --list-all-certs '$sign_uri' >sign-certs.txt 2>&1 || echo login-list >>failed
p11tool --export '$auth_uri;id=%01;type=cert' >auth.pem 2>export.err || echo export-auth >>failed
GNUTLS_PIN=$sign_pin p11tool --login --export '$sign_uri;id=%02;type=cert' >sign.pem 2>>export.err || echo export-sign >>failed
GNUTLS_PIN=$auth_pin p11tool --login --test-sign '$auth_uri;id=%01;type=private' >auth-test-sign.txt 2>&1 || echo test-sign-auth >>failed
GNUTLS_PIN=$sign_pin p11tool --login --test-sign '$sign_uri;id=%02;type=private' >sign-test-sign.txt 2>&1 || echo test-sign-sign >>failed
GNUTLS_PIN=$sign_pin certtool --p7-detached-sign --load-privkey '$sign_uri;id=%02;type=private' \
    --load-certificate sign.pem --infile data --outfile data.p7s >certtool.txt 2>&1 || echo certtool >>failed
exit 0
EOF
in_vcard -- "${isolated[@]}" bash "$work/steps.sh" || fail "the p11tool session did not run"
for f in tokens certs sign-certs auth-test-sign sign-test-sign certtool; do
    echo "---- $f"; cat "$work/$f.txt"
done
[ -e "$work/failed" ] && fail "these GnuTLS steps failed: $(tr '\n' ' ' <"$work/failed")"

# --list-tokens: exactly our two tokens, from our module.
[ "$(grep -c '^Token [0-9]*:' "$work/tokens.txt")" = 2 ] || fail "p11tool must list exactly two tokens"
grep -q "^	Label: $auth_token\$" "$work/tokens.txt" || fail "auth token not listed by p11tool"
grep -q "^	Label: $sign_token\$" "$work/tokens.txt" || fail "sign token not listed by p11tool"
[ "$(grep -c "^	Module: $module_so\$" "$work/tokens.txt")" = 2 ] || fail "tokens not served by $module_so"
grep -q '^	URL: pkcs11:model=JPKIAPICCTOKEN2;manufacturer=J-LIS;serial=[0-9A-F]*;token=JPKI%20%28User%20Authentication%20PIN%29$' \
    "$work/tokens.txt" || fail "auth token URL not as expected"

# --list-all-certs over all tokens: auth cert 01 and CA 03 on the auth token, CA 04 on the sign
# token; the signing certificate needs the password.
urls=$(grep '^	URL: ' "$work/certs.txt" | sed 's/.*;token=//' | sort)
expected=$(printf '%s\n' \
    'JPKI%20%28Digital%20Signature%20PIN%29;id=%04;object=Digital%20Signature%20Certificate%20CA;type=cert' \
    'JPKI%20%28User%20Authentication%20PIN%29;id=%01;object=User%20Authentication%20Certificate;type=cert' \
    'JPKI%20%28User%20Authentication%20PIN%29;id=%03;object=User%20Authentication%20Certificate%20CA;type=cert' | sort)
[ "$urls" = "$expected" ] || fail "certificates listed without login: $urls"
grep -q 'id=%02;object=Digital%20Signature%20Certificate;type=cert$' "$work/sign-certs.txt" ||
    fail "the signing certificate is not listed after login"

# Exports match the card's certificates.
for role in auth sign; do
    openssl x509 -in "$work/$role.pem" -outform DER -out "$work/$role.der" 2>/dev/null ||
        fail "p11tool --export of the $role certificate is no certificate: $(cat "$work/export.err")"
    cmp -s "$work/$role.der" "$pki/$role-cert.der" || fail "exported $role certificate differs from the card's"
done

# GnuTLS signing with both keys, checked by GnuTLS against the token's public key.
for role in auth sign; do
    grep -q 'Verifying against public key in the token... ok' "$work/$role-test-sign.txt" ||
        fail "p11tool --test-sign with the $role key did not verify"
    grep -qi 'fail' "$work/$role-test-sign.txt" && fail "p11tool --test-sign ($role) reported a failure"
done

# certtool's CMS signature, checked by openssl against the test signing CA.
openssl cms -verify -binary -inform PEM -in "$work/data.p7s" -content "$work/data" \
    -CAfile "$pki/sign-ca.pem" -purpose any -out /dev/null 2>"$work/cms.err" ||
    fail "openssl does not verify certtool's CMS signature: $(cat "$work/cms.err")"
# The commands docs/gnutls-p11kit.md gives, beside the modules a Debian machine registers
# (p11-kit-trust's ~140 system roots, OpenSC's view of the same card): 'pkcs11:' lists them all,
# 'pkcs11:manufacturer=J-LIS' only the card's certificates as this module shows them.
p11kit_registry "$work/registry-machine"
cp "$p11kit_module_configs"/*.module "$work/registry-machine/" 2>/dev/null
cp "$work/registry/jpki-pkcs11.module" "$work/registry-machine/"   # ours, pointed at the build
p11kit_isolate "$work/registry-machine"
cat >"$work/steps-machine.sh" <<EOF
set -u
cd '$work'
p11tool --list-all-certs pkcs11: >m-all.txt 2>&1 || echo all >>failed-machine
p11tool --list-all-certs 'pkcs11:manufacturer=J-LIS' >m-card.txt 2>&1 || echo card >>failed-machine
GNUTLS_PIN=$sign_pin p11tool --login --list-all-certs 'pkcs11:manufacturer=J-LIS;token=JPKI%20%28Digital%20Signature%20PIN%29' \
    >m-sign.txt 2>&1 || echo sign >>failed-machine
exit 0
EOF
in_vcard -- "${isolated[@]}" bash "$work/steps-machine.sh" || fail "the second p11tool session did not run"
for f in m-card m-sign; do echo "---- $f"; cat "$work/$f.txt"; done
[ -e "$work/failed-machine" ] && fail "these documented p11tool commands failed: $(tr '\n' ' ' <"$work/failed-machine")"
urls=$(grep '^	URL: ' "$work/m-card.txt" | sed 's/.*;token=//' | sort)
[ "$urls" = "$expected" ] || fail "pkcs11:manufacturer=J-LIS lists other certificates: $urls"
grep -q 'id=%02;object=Digital%20Signature%20Certificate;type=cert$' "$work/m-sign.txt" ||
    fail "the documented login listing does not show the signing certificate"
[ "$(grep -c '^	URL: ' "$work/m-sign.txt")" = 2 ] || fail "the documented login listing shows more than the sign token's"
all=$(grep -c '^	URL: ' "$work/m-all.txt")
echo "pkcs11: lists $all certificates on this machine, pkcs11:manufacturer=J-LIS 3"
if [ -e "$work/registry-machine/p11-kit-trust.module" ]; then
    [ "$all" -gt 3 ] || fail "with p11-kit-trust registered, pkcs11: should list the system roots too ($all)"
fi
echo "PASS: GnuTLS lists, exports, and signs with both tokens through p11-kit"
