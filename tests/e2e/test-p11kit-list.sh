#!/usr/bin/env bash
# e2e.p11kit-list: jpki-pkcs11 registered with p11-kit by module/jpki-pkcs11.module (its module:
# line pointed at the build): `p11-kit list-modules` shows the module and both tokens of the
# virtual card, with the card's serial. The module file's `x-init-reserved: slots=...` reaches
# the module through p11-kit (C_Initialize pReserved) and picks the slots p11-kit sees.
source "$(dirname "${BASH_SOURCE[0]}")/lib-p11kit.sh"
need p11-kit p11-kit

serial=$(openssl x509 -inform DER -in "$pki/auth-cert.der" -noout -serial | cut -d= -f2)
[ -n "$serial" ] || fail "cannot read the test certificate's serial"

p11kit_registry "$work/registry"
mkdir -p "$work/sign-only"
cp "$work/registry/jpki-pkcs11.module" "$work/sign-only/"
echo 'x-init-reserved: slots=sign' >>"$work/sign-only/jpki-pkcs11.module"

p11kit_isolate "$work/registry"
in_vcard -- "${isolated[@]}" p11-kit list-modules >"$work/list.txt" 2>"$work/list.err" ||
    { cat "$work/list.txt" "$work/list.err"; fail "p11-kit list-modules failed"; }
p11kit_isolate "$work/sign-only"
in_vcard -- "${isolated[@]}" p11-kit list-modules >"$work/sign-only.txt" 2>&1 ||
    { cat "$work/sign-only.txt"; fail "p11-kit list-modules (slots=sign) failed"; }
cat "$work/list.txt" "$work/list.err"

# Module headers are the lines that do not start with a space: ours, and no other (else the
# token checks below could be answered by OpenSC's module, which shows the same labels).
headers=$(grep -v '^ ' "$work/list.txt")
[ "$headers" = "jpki-pkcs11: $module_so" ] ||
    fail "expected exactly the module 'jpki-pkcs11: $module_so', p11-kit listed: $headers"
grep -q '^    library-manufacturer: jpki-pkcs11$' "$work/list.txt" || fail "library manufacturer not shown"
[ "$(grep -c '^    token: ' "$work/list.txt")" = 2 ] || fail "expected two tokens"
grep -qx "    token: $auth_token" "$work/list.txt" || fail "auth token not listed"
grep -qx "    token: $sign_token" "$work/list.txt" || fail "sign token not listed"
[ "$(grep -c '^        manufacturer: J-LIS$' "$work/list.txt")" = 2 ] || fail "tokens' manufacturer is not J-LIS"
[ "$(grep -c "^        serial-number: $serial\$" "$work/list.txt")" = 2 ] ||
    fail "both tokens must carry the card serial $serial"
[ "$(grep -c '^               login-required$' "$work/list.txt")" = 2 ] || fail "tokens must require login"
grep -qi 'error\|couldn' "$work/list.err" && fail "p11-kit complained: $(cat "$work/list.err")"

# x-init-reserved: slots=sign in the module file: only the signature token.
grep -qx "    token: $sign_token" "$work/sign-only.txt" || fail "slots=sign: sign token not listed"
grep -q "token: $auth_token" "$work/sign-only.txt" && fail "slots=sign: the auth token is still listed"
echo "PASS: p11-kit lists jpki-pkcs11 with both tokens; x-init-reserved selects slots"
