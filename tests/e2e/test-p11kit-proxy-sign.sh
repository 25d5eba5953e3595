#!/usr/bin/env bash
# e2e.p11kit-proxy-sign: an application that loads p11-kit-proxy.so (the one module that stands for
# every registered module) reaches jpki-pkcs11 through its registration. pkcs11-tool lists both
# tokens through the proxy, logs in to each by token label and signs (SHA256-RSA-PKCS); openssl
# verifies with the test certificates, and the signatures are byte-identical to the ones made
# with the module loaded directly (PKCS#1 v1.5 is deterministic). With OpenSC's module registered
# as well (it shows the same token labels), jpki-pkcs11's tokens come first (its priority: 1), so
# the same --token-label still reaches jpki-pkcs11.
source "$(dirname "${BASH_SOURCE[0]}")/lib-p11kit.sh"
need pkcs11-tool opensc
[ -r "$p11kit_proxy" ] || skip "p11-kit-proxy.so not found at $p11kit_proxy (Debian package p11-kit-modules)"

head -c 3000 /dev/urandom >"$work/data"
p11kit_registry "$work/registry"
p11kit_isolate "$work/registry"

cat >"$work/steps.sh" <<EOF
set -eu
cd '$work'
for via in proxy direct; do
    module='$p11kit_proxy'; [ \$via = direct ] && module='$module_so'
    pkcs11-tool --module "\$module" -L >\$via-list.txt
    pkcs11-tool --module "\$module" --token-label '$auth_token' --login --pin $auth_pin \
        --sign --id 01 -m SHA256-RSA-PKCS -i data -o \$via-auth.sig
    pkcs11-tool --module "\$module" --token-label '$sign_token' --login --pin $sign_pin \
        --sign --id 02 -m SHA256-RSA-PKCS -i data -o \$via-sign.sig
done
EOF
in_vcard -- "${isolated[@]}" bash "$work/steps.sh" >"$work/out.txt" 2>&1 ||
    { cat "$work/out.txt"; fail "pkcs11-tool through p11-kit-proxy.so or directly failed"; }
cat "$work/out.txt" "$work/proxy-list.txt"

grep -q "token label *: $auth_token\$" "$work/proxy-list.txt" || fail "proxy: auth token not listed"
grep -q "token label *: $sign_token\$" "$work/proxy-list.txt" || fail "proxy: sign token not listed"
[ "$(grep -c 'token manufacturer *: J-LIS$' "$work/proxy-list.txt")" = 2 ] ||
    fail "proxy: expected exactly two J-LIS tokens (jpki-pkcs11's)"
for role in auth sign; do
    verify_sig "$role" "$work/data" "$work/proxy-$role.sig"
    verify_sig "$role" "$work/data" "$work/direct-$role.sig"
    cmp -s "$work/proxy-$role.sig" "$work/direct-$role.sig" ||
        fail "$role: the signature through p11-kit-proxy.so differs from the direct one"
done

# Beside OpenSC's registration, as on most systems.
opensc_conf=$p11kit_module_configs/opensc-pkcs11.module
if [ -r "$opensc_conf" ] && [ -r "$p11kit_module_path/opensc-pkcs11.so" ]; then
    cp "$opensc_conf" "$work/registry/"
    p11kit_isolate "$work/registry"
    in_vcard -- "${isolated[@]}" bash -c "
        set -e
        pkcs11-tool --module '$p11kit_proxy' -L >'$work/both-list.txt'
        pkcs11-tool --module '$p11kit_proxy' --token-label '$sign_token' --login --pin $sign_pin \
            --sign --id 02 -m SHA256-RSA-PKCS -i '$work/data' -o '$work/both-sign.sig'
        pkcs11-tool --module '$p11kit_proxy' --token-label '$auth_token' --list-objects >'$work/both-objects.txt'
    " >"$work/both.txt" 2>&1 || { cat "$work/both.txt"; fail "proxy beside OpenSC's module failed"; }
    cat "$work/both-list.txt"
    grep -q 'token manufacturer *: JPKI$' "$work/both-list.txt" ||
        fail "OpenSC's module was registered but shows no token (the check below would prove nothing)"
    [ "$(grep 'token manufacturer' "$work/both-list.txt" | head -2 | grep -c 'J-LIS$')" = 2 ] ||
        fail "beside OpenSC, jpki-pkcs11's tokens are not listed first"
    # Only jpki-pkcs11's auth token holds a CKO_PROFILE object: the label found ours.
    grep -q CKP_PUBLIC_CERTIFICATES_TOKEN "$work/both-objects.txt" ||
        fail "beside OpenSC, --token-label '$auth_token' did not reach jpki-pkcs11"
    verify_sig sign "$work/data" "$work/both-sign.sig"
else
    echo "note: OpenSC's module is not registered here; the check beside it was not run"
fi
echo "PASS: login and signing with both tokens through p11-kit-proxy.so, as directly"
