# shellcheck shell=bash
# lib-p11kit.sh: shared by the p11-kit, GnuTLS, install, spy and remote end-to-end tests
# (tests/e2e/test-{install,p11kit-*,gnutls-*,spy*}.sh). Source it; it sets `set -uo pipefail`,
# makes a scratch folder $work (removed on exit) and defines:
#
#   fail MESSAGE / skip MESSAGE     exit 1 with "FAIL: ..." / exit 77 with "SKIP: ..."
#   need PROGRAM PACKAGE            skip unless PROGRAM is installed
#   p11kit_registry DIR             DIR becomes a p11-kit module config folder registering the
#                                   built module with module/jpki-pkcs11.module (its module:
#                                   line pointed at build/jpki-pkcs11.so)
#   p11kit_isolate DIR [MODDIR]     sets the array $isolated: a command prefix under which p11-kit
#                                   reads its module configs from DIR only (and, with MODDIR, finds
#                                   its relative module paths in MODDIR), HOME is $work/home
#   in_vcard [card options] -- COMMAND...   with-vcard.sh with the test PINs
#   verify_sig ROLE DATA SIG        openssl checks a SHA256-RSA-PKCS signature with the test PKI
#
# Isolation: p11-kit loads every module registered on the machine (OpenSC's opensc-pkcs11.module
# among them, which shows the same JPKI token labels), and ignores ~/.config/pkcs11 when the
# program runs as root. So clients run in a private mount namespace (plus a user namespace when
# not root) where p11-kit's module config folders are bind-mounted from the test's scratch
# folder: p11-kit sees our module and nothing else, and the machine is never touched. Where no
# namespace can be made, a non-root user gets a private HOME with `user-config: only` instead.
set -uo pipefail

e2e_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=${JPKI_SOURCE_DIR:-$(cd "$e2e_dir/../.." && pwd)}
build=${JPKI_BUILD_DIR:-$repo/build}
module_so=$build/jpki-pkcs11.so
pki=$repo/tests/pki
with_vcard=$repo/tests/pcsc/with-vcard.sh
auth_token='JPKI (User Authentication PIN)'
sign_token='JPKI (Digital Signature PIN)'
auth_pin=1234
sign_pin=ABC123

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
need() { command -v "$1" >/dev/null 2>&1 || skip "$1 not installed (Debian package $2)"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/jpki-e2e.XXXXXX") || fail "cannot create a scratch folder"
trap 'rm -rf "$work"' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
mkdir -p "$work/home"

[ -r "$module_so" ] || fail "module not found at $module_so (build first, or set JPKI_BUILD_DIR)"
need pkg-config pkg-config
p11kit_module_path=$(pkg-config --variable=p11_module_path p11-kit-1) ||
    fail "pkg-config knows no p11-kit-1 (Debian package libp11-kit-dev)"
p11kit_module_configs=$(pkg-config --variable=p11_module_configs p11-kit-1)
p11kit_prefix=$(pkg-config --variable=prefix p11-kit-1)
p11kit_proxy=$(pkg-config --variable=proxy_module p11-kit-1)
p11kit_sysconf=/etc/pkcs11   # p11-kit's system config folder (sysconfdir /etc on Debian)

p11kit_registry() {
    mkdir -p "$1"
    sed "s|^module:.*|module: $module_so|" "$repo/module/jpki-pkcs11.module" >"$1/jpki-pkcs11.module"
    grep -q "^module: $module_so\$" "$1/jpki-pkcs11.module" ||
        fail "module/jpki-pkcs11.module has no module: line"
}

# How to get a private mount namespace here, if at all.
_p11kit_ns=()
if [ "$(id -u)" = 0 ]; then _p11kit_ns=(unshare --mount); else _p11kit_ns=(unshare --user --map-root-user --mount); fi
"${_p11kit_ns[@]}" true 2>/dev/null || _p11kit_ns=()
p11kit_can_bind() { [ ${#_p11kit_ns[@]} -gt 0 ]; }

p11kit_isolate() {
    local configs=$1 moddir=${2:-}
    mkdir -p "$work/empty"
    if p11kit_can_bind; then
        # The mounts happen in the client's own namespace and vanish with it.
        isolated=(env HOME="$work/home" "${_p11kit_ns[@]}" sh -c '
            set -e
            mount --bind "$1" "$2"
            if [ -n "$3" ]; then mount --bind "$3" "$4"; fi
            if [ -d "$5" ]; then mount --bind "$6" "$5"; fi
            shift 6
            exec "$@"' sh "$configs" "$p11kit_module_configs" "$moddir" "$p11kit_module_path" \
            "$p11kit_sysconf" "$work/empty")
    elif [ "$(id -u)" != 0 ] && [ -z "$moddir" ]; then
        grep -qs '^ *user-config: *none' "$p11kit_sysconf/pkcs11.conf" &&
            skip "no mount namespace, and $p11kit_sysconf/pkcs11.conf forbids user configs"
        mkdir -p "$work/home/.config/pkcs11"
        echo 'user-config: only' >"$work/home/.config/pkcs11/pkcs11.conf"
        ln -sfn "$configs" "$work/home/.config/pkcs11/modules"
        isolated=(env HOME="$work/home")
    else
        skip "cannot give p11-kit a private configuration here (no mount namespace; as root p11-kit ignores ~/.config/pkcs11)"
    fi
}

in_vcard() {
    local card=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do card+=("$1"); shift; done
    shift
    "$with_vcard" --auth-pin "$auth_pin" --sign-pin "$sign_pin" "${card[@]}" -- "$@"
}

verify_sig() {
    local role=$1 data=$2 sig=$3
    openssl x509 -inform DER -in "$pki/$role-cert.der" -pubkey -noout >"$work/$role.pub" ||
        fail "cannot read $pki/$role-cert.der"
    openssl dgst -sha256 -verify "$work/$role.pub" -signature "$sig" "$data" >/dev/null ||
        fail "$role signature $sig does not verify with the $role certificate"
}
