#!/usr/bin/env bash
# e2e.spy: pkcs11-spy-config/ traces real clients' calls to jpki-pkcs11 through OpenSC's
# pkcs11-spy.so:
# - spy-run.sh with pkcs11-tool given the spy as its module: -L, then login + sign on the auth
#   token. The signature verifies; the log (mode 0600: it holds PINs) names our module and both
#   token labels, and shows C_Login and C_Sign returning CKR_OK;
# - jpki-pkcs11-spy.module installed as the p11-kit registration (under the name
#   jpki-pkcs11.module, replacing the normal one): p11tool, run through spy-run.sh, lists both
#   tokens and its calls land in the log;
# - spy-run.sh returns its command's exit status.
source "$(dirname "${BASH_SOURCE[0]}")/lib-p11kit.sh"
need pkcs11-tool opensc
need p11tool gnutls-bin
spy_dir=$repo/pkcs11-spy-config
spy_run=$spy_dir/spy-run.sh
spy_so=$(unset JPKI_SPY_MODULE; PKCS11SPY=/dev/null PKCS11SPY_OUTPUT=$work/probe.log; . "$spy_dir/spy.env"; echo "$JPKI_SPY_MODULE")
[ -n "$spy_so" ] || skip "pkcs11-spy.so not installed (Debian package opensc-pkcs11)"

# 0. A log pointed at a device is used as it is: spy.env never changes the device's mode.
null_mode=$(stat -c %a /dev/null)
(PKCS11SPY=/dev/null PKCS11SPY_OUTPUT=/dev/null; . "$spy_dir/spy.env")
if [ "$(stat -c %a /dev/null)" != "$null_mode" ]; then
    chmod "$null_mode" /dev/null 2>/dev/null
    fail "spy.env changed the mode of /dev/null"
fi

# 1. pkcs11-tool, the spy given as its module.
head -c 1000 /dev/urandom >"$work/data"
log=$work/logs/tool.log
mkdir -p "$work/logs"
in_vcard -- "$spy_run" --module "$module_so" --log "$log" -- bash -c "
    set -e
    pkcs11-tool --module '$spy_so' -L
    pkcs11-tool --module '$spy_so' --token-label '$auth_token' --login --pin $auth_pin \
        --sign --id 01 -m SHA256-RSA-PKCS -i '$work/data' -o '$work/auth.sig'
" >"$work/tool.txt" 2>&1 || { cat "$work/tool.txt"; fail "pkcs11-tool through the spy failed"; }
cat "$work/tool.txt"
[ -s "$log" ] || fail "no spy log at $log"
[ "$(stat -c %a "$log")" = 600 ] || fail "the spy log holds PINs but has mode $(stat -c %a "$log")"
verify_sig auth "$work/data" "$work/auth.sig"
grep -q "spy-run: [1-9][0-9]* calls logged in $log" "$work/tool.txt" || fail "spy-run did not report the log"

# returned NAME LOG: the return value of the first call NAME in LOG.
returned() { awk -v f="$1" '$0 ~ "^[0-9]+: " f "$" {on=1} on && /^Returned:/ {print $3; exit}' "$2"; }
grep -qx "Loaded: \"$module_so\"" "$log" || fail "the log does not say the spy loaded $module_so"
grep -q "label: *'$auth_token *'" "$log" || fail "the log does not show the auth token label"
grep -q "label: *'$sign_token *'" "$log" || fail "the log does not show the sign token label"
grep -q "manufacturerID: *'J-LIS  *'" "$log" || fail "the log shows no J-LIS token (jpki-pkcs11's)"
for call in C_Login C_SignInit C_Sign; do
    [ "$(returned "$call" "$log")" = CKR_OK ] || fail "the log does not show $call returning CKR_OK"
done

# 2. p11-kit: the spy registered in place of the module.
mkdir -p "$work/registry"
cp "$spy_dir/jpki-pkcs11-spy.module" "$work/registry/jpki-pkcs11.module"
p11kit_isolate "$work/registry"
log2=$work/logs/p11kit.log
in_vcard -- "${isolated[@]}" "$spy_run" --module "$module_so" --log "$log2" -- \
    bash -c 'p11-kit list-modules && p11tool --list-tokens' >"$work/p11kit.txt" 2>&1 ||
    { cat "$work/p11kit.txt"; fail "p11tool through the spy's p11-kit registration failed"; }
cat "$work/p11kit.txt"
grep -q '^jpki-pkcs11: pkcs11-spy.so$' "$work/p11kit.txt" || fail "p11-kit does not load the spy as jpki-pkcs11"
grep -q "^	Label: $auth_token\$" "$work/p11kit.txt" || fail "p11tool: auth token not listed through the spy"
grep -q "^	Label: $sign_token\$" "$work/p11kit.txt" || fail "p11tool: sign token not listed through the spy"
grep -qx "Loaded: \"$module_so\"" "$log2" || fail "p11-kit route: the spy did not load $module_so"
[ "$(returned C_Initialize "$log2")" = CKR_OK ] || fail "p11-kit route: no successful C_Initialize in the log"
grep -q "label: *'$sign_token *'" "$log2" || fail "p11-kit route: the log does not show the sign token"
grep -q "manufacturerID: *'J-LIS  *'" "$log2" || fail "p11-kit route: the log shows no J-LIS token"

# 3. The command's exit status comes back.
"$spy_run" --module "$module_so" --log "$work/logs/false.log" -- sh -c 'exit 3' 2>/dev/null
[ $? = 3 ] || fail "spy-run.sh does not return its command's exit status"
echo "PASS: pkcs11-spy traces jpki-pkcs11 for pkcs11-tool and for p11-kit applications"
