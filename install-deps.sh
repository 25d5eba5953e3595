#!/usr/bin/env bash
# install-deps.sh [--dry-run] demo|tests|package
#
# Installs the Debian 12 packages that are missing for one purpose, and nothing else:
#   demo    what ./demo.sh needs: build the module, the jpki command and the virtual card, run them
#           behind a private pcscd, drive them with pkcs11-tool and openssl
#   tests   what ./run-tests.sh needs: the demo's packages, the end-to-end clients (NSS tools,
#           Firefox, LibreOffice, ...), clang and clang-tidy, the Debian packaging tools, and the
#           ja_JP.UTF-8 locale
#   package what `dpkg-buildpackage -us -uc -b` needs to build the Debian package (debian/control's
#           Build-Depends and the packaging tools), nothing for the demo or the tests
#
# A first run must not hurt the machine it runs on: it never removes or replaces an installed
# package. apt is asked first (a simulation, which changes nothing) what installing would do; if
# that includes removing a package, nothing is installed and the script names the package
# responsible. The real install runs with --no-remove as well, so apt fails rather than remove.
# A desktop LibreOffice already installed is completed (libreoffice-writer, python3-uno), never
# swapped for Debian's -nogui variant, which conflicts with it.
#
# Before installing it prints one line: "install-deps: installing for the demo: PKG...".
# --dry-run prints that line and the commands it would run, and asks apt's simulation whether it
# would remove anything (against the package lists as they are: no update); it needs no root.
# vsmartcard-vpcd, when this script installs it, has its reader configuration for the system's
# pcscd diverted out of /etc/reader.conf.d (dpkg-divert): the tests' private pcscd is given its
# own configuration (tests/pcsc/with-vcard.sh), while the system's would otherwise show two empty
# "Virtual PCD" readers to every program and listen for virtual cards on TCP port 35963 of every
# network interface (vpcd binds INADDR_ANY). A vsmartcard-vpcd installed before is left as it is.
#
# Runs apt-get as root, or through sudo. Tests substitute the programs that read and change the
# machine: INSTALL_DEPS_DPKG_QUERY (default dpkg-query), INSTALL_DEPS_APT_GET (apt-get) and
# INSTALL_DEPS_DPKG_DIVERT (dpkg-divert).
set -euo pipefail

# ---- The lists: one purpose each; every line says who needs its packages.
demo_packages=(
    build-essential cmake pkg-config            # C++20 toolchain (g++ 12)
    libpcsclite-dev                             # PC/SC: the library the module and jpki link
    libssl-dev                                  # OpenSSL 3: the module's and jpki's crypto
    libp11-kit-dev                              # pkcs11.h (the module's C API)
    catch2                                      # the build configures the unit tests (Catch2 2.x)
    libfmt-dev nlohmann-json3-dev gettext       # the jpki command: formatting, --json, msgfmt/msgcat for its Japanese
    pcscd vsmartcard-vpcd                       # with-vcard.sh: a private pcscd, the virtual reader driver (vpcd)
    util-linux                                  # with-vcard.sh: unshare (pcscd's private /run)
    opensc                                      # demo-steps.sh: pkcs11-tool, opensc-tool
    openssl                                     # demo-steps.sh: verifies the card's signatures
)
# The tests need the demo's packages and these. LibreOffice is chosen apart (libreoffice_packages).
tests_packages=(
    locales                                     # ja_JP.UTF-8, so the tests can check the jpki command's Japanese
    opensc-pkcs11                               # OpenSC's JPKI driver (tests/pcsc fidelity tests)
    procps diffutils iproute2                   # pgrep/ps, cmp, ip (loopback-only namespaces)
    p11-kit p11-kit-modules gnutls-bin          # e2e: p11-kit list-modules/server, p11-kit-proxy.so, p11tool
    libnss3-tools xmlsec1 libxmlsec1-nss        # e2e: modutil, certutil, cmsutil, tstclnt; XML signatures with NSS
    libxmlsec1-dev libnss3-dev                  # e2e.nss-xmlsec: the small xmlsec-over-NSS signer it builds
    libengine-pkcs11-openssl curl               # e2e: OpenSSL's pkcs11 engine (libp11), curl --engine
    python3 firefox-esr                         # e2e: Firefox ESR driven through Marionette
    python3-pykcs11 python3-pyscard python3-cryptography  # tests/pcsc: fault, security and thread scenarios
    poppler-utils                               # e2e.pdfsig, e2e.libreoffice-*: pdfsig signs and checks PDFs
    clang-tidy clang libclang-rt-14-dev         # run-tests.sh: tidy stage; fuzz stage (clang, libFuzzer, sanitizer runtimes)
    openssh-client                              # e2e.ssh: ssh, ssh-keygen, ssh-agent, ssh-add (its sshd is unpacked, never installed)
    debhelper dpkg-dev lintian git              # e2e.debian-package: dpkg-buildpackage (debhelper-compat 13), lintian; git lists the files to package
)
# Building the Debian package: debian/control's Build-Depends, and the tools.
package_packages=(
    build-essential cmake pkg-config debhelper dpkg-dev
    libpcsclite-dev libssl-dev libp11-kit-dev libfmt-dev nlohmann-json3-dev gettext
)

say() { printf 'install-deps: %s\n' "$*"; }
die() { printf 'install-deps: %s\n' "$*" >&2; exit 1; }

dry_run=0
[ "${1:-}" = --dry-run ] && { dry_run=1; shift; }
case "$#:${1:-}" in
    1:demo | 1:tests | 1:package) purpose=$1 ;;
    *) echo "usage: install-deps.sh [--dry-run] demo|tests|package" >&2; exit 2 ;;
esac

dpkg_query=${INSTALL_DEPS_DPKG_QUERY:-dpkg-query}
apt_get=${INSTALL_DEPS_APT_GET:-apt-get}
dpkg_divert=${INSTALL_DEPS_DPKG_DIVERT:-dpkg-divert}
vpcd_conf=/etc/reader.conf.d/vpcd
vpcd_conf_diverted=/etc/vpcd.reader.conf.jpki-pkcs11-disabled

# The dpkg state, read once: installed[PKG]=1 for each package of ours that is fully installed.
declare -A installed=()
read_dpkg_state() {
    local package status
    # dpkg-query exits 1 when it never heard of a package; the others are still listed.
    # shellcheck disable=SC2016 # dpkg-query's format, not the shell's
    while read -r package status; do
        [ "$status" = "install ok installed" ] && installed[${package%%:*}]=1
    done < <("$dpkg_query" -W -f='${Package} ${Status}\n' "$@" 2>/dev/null || true)
}
is_installed() { [ -n "${installed[$1]:-}" ]; }

# LibreOffice for the e2e.libreoffice-* tests (soffice.bin --headless and python3-uno, which
# either variant provides). A desktop LibreOffice, if there, is the one to use: Debian's
# libreoffice-writer-nogui conflicts with libreoffice-writer, and the -nogui core replaces
# libreoffice-core, so installing them would remove the user's LibreOffice.
libreoffice_packages() {
    if is_installed libreoffice-core || is_installed libreoffice-writer; then
        echo libreoffice-writer python3-uno
    else
        echo libreoffice-writer-nogui python3-uno
    fi
}

read_dpkg_state "${demo_packages[@]}" "${tests_packages[@]}" "${package_packages[@]}" \
    libreoffice-core libreoffice-writer libreoffice-writer-nogui python3-uno
wanted=("${demo_packages[@]}")
if [ "$purpose" = package ]; then
    wanted=("${package_packages[@]}")
elif [ "$purpose" = tests ]; then
    read -r -a office <<<"$(libreoffice_packages)"
    wanted+=("${tests_packages[@]}" "${office[@]}")
fi
missing=()
for package in "${wanted[@]}"; do is_installed "$package" || missing+=("$package"); done

as_root=()
if [ "$(id -u)" != 0 ]; then as_root=(sudo); fi
# What changes the machine: run, or only shown with --dry-run.
run() {
    if [ "$dry_run" = 1 ]; then say "would run: $*"; else "${as_root[@]}" "$@"; fi
}

# The jpki command's tests run it in Japanese as well; glibc translates only under a locale that
# exists on the machine.
ensure_japanese_locale() {
    locale -a 2>/dev/null | grep -qi '^ja_JP\.utf-\?8$' && return 0
    if [ "$dry_run" = 1 ]; then say "would generate the ja_JP.UTF-8 locale (/etc/locale.gen, locale-gen)"; return 0; fi
    say "generating the ja_JP.UTF-8 locale (the jpki command's tests use it)"
    "${as_root[@]}" sed -i 's/^# *\(ja_JP.UTF-8 UTF-8\)/\1/' /etc/locale.gen
    grep -q '^ja_JP.UTF-8 UTF-8' /etc/locale.gen || echo 'ja_JP.UTF-8 UTF-8' | "${as_root[@]}" tee -a /etc/locale.gen >/dev/null
    "${as_root[@]}" locale-gen >/dev/null
}
finish() { if [ "$purpose" = tests ]; then ensure_japanese_locale; fi; }

case $purpose in
    demo) for_what="the demo" ;;
    tests) for_what="the tests" ;;
    package) for_what="building the Debian package" ;;
esac
if [ ${#missing[@]} -eq 0 ]; then
    say "nothing to install for $for_what"
    finish
    exit 0
fi
say "installing for $for_what: ${missing[*]}"
if [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "need root or sudo to install these"
fi
run "$apt_get" update -q

# removals PKG...: the installed packages apt would remove to install PKG... (its simulation,
# "Remv NAME [VERSION]" lines; -s needs no root and changes nothing). Fails when apt cannot plan it.
removals() {
    local plan
    plan=$("$apt_get" -s -q install --no-install-recommends "$@" 2>&1) || { printf '%s\n' "$plan" >&2; return 1; }
    printf '%s\n' "$plan" | awk '$1 == "Remv" || $1 == "Purg" { printf "%s%s", sep, $2; sep = " " }'
}
# culprits PKG...: "PKG... would remove: NAME..." for the smallest groups of PKG... whose install
# removes something, found by halving the list (a dozen simulations for forty packages, not forty).
culprits() {
    local removed found
    removed=$(removals "$@" 2>/dev/null) && [ -n "$removed" ] || return 0
    if [ $# -gt 1 ]; then
        found=$(culprits "${@:1:$# / 2}"; culprits "${@:$# / 2 + 1}")
        [ -z "$found" ] || { printf '%s\n' "$found"; return 0; }
    fi
    echo "$* would remove: $removed"
}
removed=$(removals "${missing[@]}") ||
    die "apt cannot install these as things are (its message is above); nothing was installed$(
        [ "$dry_run" = 0 ] || echo " (a real run does apt-get update first)")"
if [ -n "$removed" ]; then
    say "NOT installing anything: apt would remove installed packages to do it: $removed" >&2
    culprits "${missing[@]}" | while read -r line; do say "  $line" >&2; done
    die "this script never removes or replaces a package. To go on, either remove the installed \
packages named above yourself if you no longer need them, or install the package that needs \
their removal yourself (sudo apt-get install PACKAGE shows what it would remove and asks first); \
then run it again."
fi
if [[ " ${missing[*]} " == *" vsmartcard-vpcd "* ]]; then
    say "keeping vpcd's readers out of the system's pcscd: $vpcd_conf is diverted to $vpcd_conf_diverted"
    run "$dpkg_divert" --local --rename --divert "$vpcd_conf_diverted" --add "$vpcd_conf"
fi
run env DEBIAN_FRONTEND=noninteractive "$apt_get" install -y -q --no-install-recommends --no-remove \
    "${missing[@]}"
finish
