#!/usr/bin/env bash
# install-deps.sh: installs the Debian 12 packages that building, the demo and the tests need.
# Runs apt-get as root, or through sudo; does nothing when everything is already there.
set -euo pipefail

packages=(
    build-essential cmake pkg-config            # C++20 toolchain (g++ 12)
    libpcsclite-dev pcscd                       # PC/SC: the library we link, the daemon we test through
    vsmartcard-vpcd                             # the virtual reader driver the virtual card plugs into
    libssl-dev openssl                          # OpenSSL 3
    p11-kit libp11-kit-dev                      # pkcs11.h and module registration
    catch2                                      # unit tests (Catch2 2.x)
    nlohmann-json3-dev gettext                  # the jpki command: --json output; msgfmt for its Japanese messages
    locales                                     # ja_JP.UTF-8, so the tests can check the jpki command's Japanese
    opensc opensc-pkcs11                        # pkcs11-tool, opensc-tool, OpenSC's JPKI driver (fidelity tests)
    util-linux procps diffutils iproute2        # unshare, runuser, kill/ps, cmp, ip (loopback-only namespaces)
    # end-to-end clients (tests/e2e)
    p11-kit-modules gnutls-bin                  # p11-kit-proxy.so, p11-kit server/client; p11tool
    libnss3-tools xmlsec1 libxmlsec1-nss        # modutil, certutil, cmsutil, tstclnt; XML signatures with NSS
    libxmlsec1-dev libnss3-dev                  # the small xmlsec-over-NSS signer e2e.nss-xmlsec builds
    libengine-pkcs11-openssl curl               # OpenSSL's pkcs11 engine (libp11), curl --engine
    python3 firefox-esr                         # Firefox ESR driven through Marionette
    python3-pykcs11 python3-pyscard python3-cryptography  # PC/SC fault, security and thread scenarios (tests/pcsc)
    libreoffice-writer-nogui python3-uno        # LibreOffice signing, headless
    poppler-utils                               # pdfsig: checks the signed PDF
    # run-tests.sh's checking stages: clang-tidy (tidy), clang with its sanitizer and libFuzzer
    # runtimes (fuzz); g++'s own ASan/UBSan/TSan runtimes come with build-essential
    clang-tidy clang libclang-rt-14-dev
    debhelper dpkg-dev lintian git libfmt-dev   # e2e.debian-package: dpkg-buildpackage (debhelper-compat 13), lintian, git lists the files to package; libfmt-dev: a Build-Depends (the jpki command links fmt)
)

# The jpki command's tests run it in Japanese as well; glibc translates only under a locale that
# exists on the machine.
ensure_japanese_locale() {
    locale -a 2>/dev/null | grep -qi '^ja_JP\.utf-\?8$' && return 0
    echo "install-deps: generating the ja_JP.UTF-8 locale (the jpki command's tests use it)"
    "${as_root[@]}" sed -i 's/^# *\(ja_JP.UTF-8 UTF-8\)/\1/' /etc/locale.gen
    grep -q '^ja_JP.UTF-8 UTF-8' /etc/locale.gen || echo 'ja_JP.UTF-8 UTF-8' | "${as_root[@]}" tee -a /etc/locale.gen >/dev/null
    "${as_root[@]}" locale-gen >/dev/null
}

as_root=()
if [ "$(id -u)" != 0 ]; then as_root=(sudo); fi

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then ensure_japanese_locale; exit 0; fi

if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
fi
echo "install-deps: installing ${missing[*]}"
"${as_root[@]}" apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
ensure_japanese_locale
