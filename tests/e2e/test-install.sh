#!/usr/bin/env bash
# e2e.install: `cmake --install` of the build tree, staged with DESTDIR (nothing is written outside
# the scratch folder):
# - with p11-kit's prefix, jpki-pkcs11.so lands in $(pkg-config --variable=p11_module_path
#   p11-kit-1) and jpki-pkcs11.module in $(pkg-config --variable=p11_module_configs p11-kit-1)
#   under the stage, as built and as in module/;
# - another --prefix moves both along with it;
# - the installed module file's module: line names the installed module (relative names resolve
#   against p11_module_path, as p11-kit does);
# - jpki lands in bin/, its CA certificates and messages in share/, where it finds them;
# - the staged tree, put in place of p11-kit's two folders (private mount namespace), is what the
#   system's p11-kit loads: `p11-kit list-modules` and pkcs11-tool through p11-kit-proxy.so show
#   both tokens of the virtual card.
source "$(dirname "${BASH_SOURCE[0]}")/lib-p11kit.sh"
need cmake cmake
need p11-kit p11-kit
[ -r "$build/cmake_install.cmake" ] || fail "$build is not a configured build tree"

stage=$work/stage
DESTDIR=$stage cmake --install "$build" --prefix "$p11kit_prefix" >"$work/install.txt" 2>&1 ||
    { cat "$work/install.txt"; fail "cmake --install (DESTDIR, prefix $p11kit_prefix) failed"; }
cat "$work/install.txt"
so=$stage$p11kit_module_path/jpki-pkcs11.so
conf=$stage$p11kit_module_configs/jpki-pkcs11.module
[ -f "$so" ] || fail "jpki-pkcs11.so is not in p11_module_path ($p11kit_module_path) under DESTDIR"
[ -f "$conf" ] || fail "jpki-pkcs11.module is not in p11_module_configs ($p11kit_module_configs) under DESTDIR"
cmp -s "$so" "$module_so" || fail "the installed jpki-pkcs11.so differs from the built one"
cmp -s "$conf" "$repo/module/jpki-pkcs11.module" || fail "the installed jpki-pkcs11.module differs from module/'s"
perm=$(stat -c %a "$so")
(( 8#$perm & 8#004 )) || fail "the installed module must be readable by all (mode $perm)"

# The jpki command with its data where it finds it, relative to itself (bin/ -> share/): the J-LIS
# CA certificates and the Japanese messages (its --help in Japanese proves the catalogue is found).
jpki_bin=$stage$p11kit_prefix/bin/jpki
[ -x "$jpki_bin" ] || fail "jpki is not installed in $p11kit_prefix/bin"
for ca in auth_ca_2015 auth_ca_2023 sign_ca_2015 sign_ca_2023; do
    [ -f "$stage$p11kit_prefix/share/jpki-pkcs11/jpki-ca/$ca.pem" ] || fail "$ca.pem is not installed in share/jpki-pkcs11/jpki-ca"
done
[ -f "$stage$p11kit_prefix/share/locale/ja/LC_MESSAGES/jpki.mo" ] || fail "jpki.mo is not installed in share/locale/ja/LC_MESSAGES"
LC_ALL=ja_JP.UTF-8 "$jpki_bin" --help | grep -qx 'コマンド:' ||
    fail "the installed jpki does not find its Japanese messages"
cmp -s "$jpki_bin" "$build/bin/jpki" || fail "the installed jpki differs from the built one"

# The module file's module: line resolves to the installed module.
target=$(sed -n 's/^module: *//p' "$conf")
[ -n "$target" ] || fail "jpki-pkcs11.module has no module: line"
case $target in
/*) resolved=$stage$target ;;
*) resolved=$stage$p11kit_module_path/$target ;;
esac
[ "$resolved" -ef "$so" ] || fail "module: $target resolves to $resolved, not the installed module"

# A different prefix moves both files with it (p11-kit's folders, relative to its prefix).
reloc=$work/reloc
DESTDIR=$reloc cmake --install "$build" --prefix /opt/jpki-test >"$work/install2.txt" 2>&1 ||
    { cat "$work/install2.txt"; fail "cmake --install --prefix /opt/jpki-test failed"; }
for path in "$p11kit_module_path/jpki-pkcs11.so" "$p11kit_module_configs/jpki-pkcs11.module"; do
    case $path in
    "$p11kit_prefix"/*) want=$reloc/opt/jpki-test/${path#"$p11kit_prefix"/} ;;
    *) want=$reloc$path ;;   # outside p11-kit's prefix (e.g. /etc): stays absolute
    esac
    [ -f "$want" ] || fail "with --prefix /opt/jpki-test, $(basename "$path") is not at ${want#"$reloc"}"
done

# The system's p11-kit, unmodified, loads the staged tree.
if p11kit_can_bind; then
    p11kit_isolate "$stage$p11kit_module_configs" "$stage$p11kit_module_path"
    expect_module="jpki-pkcs11: $target"
else
    echo "note: no mount namespace here; loading the staged module by its absolute path instead"
    mkdir -p "$work/registry"
    sed "s|^module:.*|module: $so|" "$conf" >"$work/registry/jpki-pkcs11.module"
    p11kit_isolate "$work/registry"
    expect_module="jpki-pkcs11: $so"
fi
steps="p11-kit list-modules >'$work/list.txt'"
[ -r "$p11kit_proxy" ] && steps+=" && pkcs11-tool --module '$p11kit_proxy' -L >'$work/proxy.txt'"
in_vcard -- "${isolated[@]}" bash -c "set -e; $steps" >"$work/run.txt" 2>&1 ||
    { cat "$work/run.txt"; fail "p11-kit could not use the staged installation"; }
cat "$work/list.txt"
[ "$(grep -v '^ ' "$work/list.txt")" = "$expect_module" ] ||
    fail "p11-kit should list exactly '$expect_module'; it listed: $(grep -v '^ ' "$work/list.txt")"
grep -qx "    token: $auth_token" "$work/list.txt" || fail "installed module: auth token not listed"
grep -qx "    token: $sign_token" "$work/list.txt" || fail "installed module: sign token not listed"
if [ -r "$p11kit_proxy" ]; then
    cat "$work/proxy.txt"
    [ "$(grep -c 'token manufacturer *: J-LIS$' "$work/proxy.txt")" = 2 ] ||
        fail "p11-kit-proxy.so does not show the installed module's two tokens"
fi
echo "PASS: cmake --install puts the module and its registration where p11-kit loads them, and jpki with its data"
