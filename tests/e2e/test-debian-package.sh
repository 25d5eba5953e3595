#!/usr/bin/env bash
# e2e.debian-package: the Debian package, built the Debian way and installed for real (issue 9).
# - `dpkg-buildpackage -us -uc -b` in a copy of the source tree (the files git knows, so no build
#   folder of the developer's ends up in the package) makes jpki-pkcs11_<version>_<arch>.deb,
#   <version> being the project's (CMakeLists.txt, as this build tree was configured);
# - lintian reports no error on it; the manual pages format without a groff warning;
# - it holds the module in p11-kit's module folder, the p11-kit module file, /usr/bin/jpki with
#   its J-LIS CA certificates and Japanese messages, the manual pages (English and Japanese), the
#   README, docs/ and the copyright file, and nothing from the tests;
# - installed (dpkg -i): the system's p11-kit lists the installed module with both tokens of the
#   virtual card and its library version, the project's; pkcs11-tool -I shows the same version;
#   `jpki --version` prints it; `jpki --help` speaks Japanese under ja_JP.UTF-8;
# - purged (dpkg -P): dpkg no longer knows the package, and every path the package holds exists
#   or not exactly as before the installation.
# It installs into /usr, so it runs only as root, and refuses to run (skips) where jpki-pkcs11 is
# already installed: that package is the developer's, not this test's to remove. ctest runs it
# alone (RUN_SERIAL): no other test sees the installed module meanwhile.
source "$(dirname "${BASH_SOURCE[0]}")/lib-p11kit.sh"
set -e

[ "$(id -u)" = 0 ] || skip "needs root: it installs the package with dpkg -i (CI runs as root)"
need dpkg-buildpackage dpkg-dev
need dh debhelper
need lintian lintian
need git git
need groff groff-base
need p11-kit p11-kit
need pkcs11-tool opensc
# Installed, half-installed, or its configuration left behind: all the developer's.
state=$(dpkg-query -W -f='${db:Status-Status}' jpki-pkcs11 2>/dev/null || true)
if [ -n "$state" ] && [ "$state" != not-installed ]; then
    skip "jpki-pkcs11 is on this machine already (dpkg state: $state); this test would have to remove it (dpkg -P jpki-pkcs11 first)"
fi

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
[ -n "$version" ] || fail "no CMAKE_PROJECT_VERSION in $build/CMakeCache.txt"
short_version=${version%.*}   # C_GetInfo's libraryVersion is major.minor
arch=$(dpkg --print-architecture)

# The package's files come from the copy; the build tree is not consulted (the tests' programs
# aside: the virtual card and with-vcard.sh's fixture).
installed=0
cleanup() {
    if [ "$installed" = 1 ]; then
        echo "cleanup: purging the package this test installed" >&2
        dpkg -P jpki-pkcs11 >/dev/null 2>&1 || echo "cleanup: dpkg -P jpki-pkcs11 FAILED" >&2
    fi
    rm -rf "$work"
}
trap cleanup EXIT

src=$work/src/jpki-pkcs11
mkdir -p "$src"
git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
    skip "$repo is not a git checkout: cannot tell source files from build files"
# Tracked and new (not ignored) files, as they are in the working tree.
(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
    tar --null -T - --ignore-failed-read -cf -) | tar -xf - -C "$src"
[ -f "$src/debian/rules" ] || fail "the copy of the source tree has no debian/rules"

echo "building the package in $src (dpkg-buildpackage -us -uc -b)"
(cd "$src" && nice dpkg-buildpackage -us -uc -b -j"$(nproc)") >"$work/build.log" 2>&1 ||
    { tail -n 60 "$work/build.log"; fail "dpkg-buildpackage failed (the end of its log is above)"; }
deb=$work/src/jpki-pkcs11_${version}_${arch}.deb
[ -f "$deb" ] || { ls -l "$work/src"; fail "dpkg-buildpackage did not make $(basename "$deb") (the project's version is $version)"; }
dpkg-deb -f "$deb" Version | grep -qx "$version" || fail "the package's version is not $version"

# lintian: errors fail; warnings and the rest are shown.
lintian --fail-on error --tag-display-limit 0 "$deb" >"$work/lintian.txt" 2>&1 ||
    { cat "$work/lintian.txt"; fail "lintian reports errors for $(basename "$deb")"; }
echo "lintian (no errors):"
sed 's/^/  /' "$work/lintian.txt"

# The manual pages, as groff sees them: any warning fails (lintian only warns about them).
for page in "$src"/man/*.[17] "$src"/man/ja/*.[17]; do
    groff -man -K utf8 -Tutf8 -ww -z "$page" >"$work/groff.txt" 2>&1 || true
    [ ! -s "$work/groff.txt" ] || { cat "$work/groff.txt"; fail "groff warns about ${page#"$src"/}"; }
done

# The files the package must hold (contents.txt: every path; files.txt: all but folders).
dpkg-deb -c "$deb" | awk '{ p = $6; sub(/^\./, "", p); sub(/\/$/, "", p); if (p != "") print p }' >"$work/contents.txt"
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { p = $6; sub(/^\./, "", p); print p }' >"$work/files.txt"
has() { grep -qxF "$1" "$work/contents.txt" || fail "the package lacks $1"; }
has_doc() {   # dh_compress gzips the larger ones
    grep -qxF "$1" "$work/contents.txt" || grep -qxF "$1.gz" "$work/contents.txt" || fail "the package lacks $1(.gz)"
}
has "$p11kit_module_path/jpki-pkcs11.so"
has "$p11kit_module_configs/jpki-pkcs11.module"
has /usr/bin/jpki
for ca in auth_ca_2015 auth_ca_2023 sign_ca_2015 sign_ca_2023; do has "/usr/share/jpki-pkcs11/jpki-ca/$ca.pem"; done
has /usr/share/locale/ja/LC_MESSAGES/jpki.mo
has /usr/share/man/man1/jpki.1.gz
has /usr/share/man/man7/jpki-pkcs11.7.gz
has /usr/share/man/ja/man1/jpki.1.gz
has /usr/share/man/ja/man7/jpki-pkcs11.7.gz
has /usr/share/doc/jpki-pkcs11/copyright
has_doc /usr/share/doc/jpki-pkcs11/README.md
if [ -d "$src/docs" ]; then
    while IFS= read -r -d '' doc; do
        has_doc "/usr/share/doc/jpki-pkcs11/${doc#"$src/docs/"}"
    done < <(find "$src/docs" -type f -print0)
fi
# Nothing else: no test program, no build file.
allowed="^($p11kit_module_path/jpki-pkcs11\\.so|$p11kit_module_configs/jpki-pkcs11\\.module|/usr/bin/jpki|/usr/share/(jpki-pkcs11|locale|man|doc)/.*)\$"
strays=$(grep -v -E "$allowed" "$work/files.txt" || true)
[ -z "$strays" ] || fail "the package holds files it should not: $strays"

# What the machine has at every path of the package, before the installation.
snapshot() {
    while IFS= read -r path; do
        if [ -d "$path" ] && [ ! -L "$path" ]; then
            printf '%s %s\n' "$path" "$(stat -c '%F %a' "$path")"   # a folder's size never shrinks
        elif [ -L "$path" ] || [ -e "$path" ]; then
            printf '%s %s\n' "$path" "$(stat -c '%F %a %s' "$path")"
        else
            printf '%s absent\n' "$path"
        fi
    done <"$work/contents.txt"
}
snapshot >"$work/before.txt"

echo "installing $(basename "$deb")"
installed=1
dpkg -i "$deb" >"$work/dpkg-i.txt" 2>&1 || { cat "$work/dpkg-i.txt"; fail "dpkg -i failed"; }
dpkg-query -W -f='${Status} ${Version}\n' jpki-pkcs11 | grep -qx "install ok installed $version" ||
    fail "dpkg does not show jpki-pkcs11 $version installed"

# The installed command: its version, and its Japanese (its catalogue found under /usr/share).
[ "$(/usr/bin/jpki --version)" = "jpki $version" ] || fail "/usr/bin/jpki --version says '$(/usr/bin/jpki --version)', not 'jpki $version'"
LC_ALL=ja_JP.UTF-8 /usr/bin/jpki --help | grep -qx 'コマンド:' ||
    fail "LC_ALL=ja_JP.UTF-8 /usr/bin/jpki --help is not in Japanese"

# The system's p11-kit, as every program sees it (no isolation: this is the real registration),
# and the installed module itself through pkcs11-tool.
installed_so=$p11kit_module_path/jpki-pkcs11.so
in_vcard -- bash -c "set -e; p11-kit list-modules >'$work/list.txt'; pkcs11-tool --module '$installed_so' -I >'$work/info.txt'" \
    >"$work/run.txt" 2>&1 || { cat "$work/run.txt"; fail "p11-kit list-modules or pkcs11-tool -I failed with the installed module"; }
# Our module's block: from its "jpki-pkcs11: ..." line to the next module's line.
awk '/^[^ ]/ { mine = ($0 ~ /^jpki-pkcs11: /) } mine' "$work/list.txt" >"$work/ours.txt"
cat "$work/ours.txt"
[ -s "$work/ours.txt" ] || { cat "$work/list.txt"; fail "p11-kit does not list the installed jpki-pkcs11 module"; }
grep -qx "    token: $auth_token" "$work/ours.txt" || fail "p11-kit: the installed module does not show the auth token"
grep -qx "    token: $sign_token" "$work/ours.txt" || fail "p11-kit: the installed module does not show the sign token"
grep -qx "    library-version: $short_version" "$work/ours.txt" || fail "p11-kit: the module's library-version is not $short_version"
cat "$work/info.txt"
grep -q "(ver $short_version)" "$work/info.txt" || fail "pkcs11-tool -I: C_GetInfo's library version is not $short_version"

echo "purging the package"
dpkg -P jpki-pkcs11 >"$work/dpkg-p.txt" 2>&1 || { cat "$work/dpkg-p.txt"; fail "dpkg -P jpki-pkcs11 failed"; }
installed=0
if dpkg -s jpki-pkcs11 >/dev/null 2>&1; then fail "dpkg -s jpki-pkcs11 still succeeds after dpkg -P"; fi
snapshot >"$work/after.txt"
diff -u "$work/before.txt" "$work/after.txt" || fail "the machine differs from before the installation (above)"
echo "PASS: dpkg-buildpackage builds jpki-pkcs11 $version, lintian-clean of errors; installed, p11-kit lists both tokens, C_GetInfo and jpki say $version; purged, nothing is left"
