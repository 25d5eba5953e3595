#!/usr/bin/env bash
# install-deps.sh's decisions (issue 9: a first run that cannot hurt the machine), with a fake
# dpkg-query (the installed packages are FAKE_INSTALLED, "*" for all), a fake apt-get (its
# simulation "removes" what FAKE_REMOVES says) and a fake dpkg-divert (both log each call to
# FAKE_LOG): what the demo and the tests install, which LibreOffice, apt's --no-remove, vpcd's
# system reader diverted, nothing done when nothing is missing, and a refusal naming the package
# when apt would remove one. Nothing is installed; apt-get, dpkg-divert and sudo found by name on
# PATH are stubs that fail the test, in case the script ever stopped using the fakes.
#   test-install-deps.sh --list | CASE
set -uo pipefail
cases=(demo-set demo-within-tests tests-no-libreoffice tests-nogui-libreoffice tests-desktop-core
       tests-desktop-writer no-remove-shown no-remove-run vpcd-reader-diverted nothing-missing
       removal-refused usage package-set)
[ "${1:-}" = --list ] && { printf '%s\n' "${cases[@]}"; exit 0; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
script=$(cd "$here/../.." && pwd)/install-deps.sh
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/install-deps-test.XXXXXX") || fail mktemp
trap 'rm -rf "$work"' EXIT
mkdir "$work/fake" "$work/stubs"
cat >"$work/fake/dpkg-query" <<'SH'
#!/usr/bin/env bash
# dpkg-query -W -f=FORMAT PKG...: "PKG install ok installed" for each PKG in FAKE_INSTALLED.
shift 2
status=0
for p in "$@"; do
    if [ "$FAKE_INSTALLED" = "*" ] || [[ " $FAKE_INSTALLED " == *" $p "* ]]; then
        echo "$p install ok installed"
    else
        echo "dpkg-query: no packages found matching $p" >&2; status=1
    fi
done
exit "$status"
SH
cat >"$work/fake/apt-get" <<'SH'
#!/usr/bin/env bash
# Logs its arguments; -s prints a plan: "Inst P" per package, "Remv V [1.0]" for each
# P:V pair of FAKE_REMOVES whose P is asked for.
echo "apt-get $*" >>"$FAKE_LOG"
echo "FAKE-APT $*"
[ "$1" = -s ] || exit 0
for p in "$@"; do
    case $p in -*|install) continue ;; esac
    echo "Inst $p (1.0 Debian:12/stable [all])"
    for pair in ${FAKE_REMOVES:-}; do [ "${pair%%:*}" = "$p" ] && echo "Remv ${pair#*:} [1.0]"; done
done
exit 0
SH
cat >"$work/fake/dpkg-divert" <<'SH'
#!/usr/bin/env bash
echo "dpkg-divert $*" >>"$FAKE_LOG"
SH
for stub in apt-get dpkg-divert sudo; do
    printf '#!/bin/sh\necho "STUB %s called: install-deps.sh bypassed the fake" >&2\nexit 99\n' "$stub" >"$work/stubs/$stub"
done
chmod +x "$work"/fake/* "$work"/stubs/*
export PATH=$work/stubs:$PATH
export INSTALL_DEPS_DPKG_QUERY=$work/fake/dpkg-query INSTALL_DEPS_APT_GET=$work/fake/apt-get
export INSTALL_DEPS_DPKG_DIVERT=$work/fake/dpkg-divert
export FAKE_LOG=$work/calls.log FAKE_INSTALLED="" FAKE_REMOVES=""
: >"$FAKE_LOG"

# deps ARGS...: runs install-deps.sh; $out (stdout), $err, $rc
deps() {
    "$script" "$@" >"$work/out" 2>"$work/err"
    rc=$?
    out=$(cat "$work/out") err=$(cat "$work/err")
}
# installing_line: the packages of the one "installing for" line (fails unless exactly one)
installing() {
    local lines
    lines=$(grep -c '^install-deps: installing for ' <<<"$out")
    [ "$lines" = 1 ] || fail "expected one 'installing for' line, got $lines:"$'\n'"$out"
    sed -n 's/^install-deps: installing for [^:]*: //p' <<<"$out"
}
has() { [[ " $1 " == *" $2 "* ]]; }
expect_ok() { [ "$rc" = 0 ] || fail "install-deps.sh $* exited $rc: $out $err"; }

case ${1:?case} in
package-set)
    # Building the Debian package: debian/control's Build-Depends and debhelper, nothing else.
    deps --dry-run package; expect_ok --dry-run package
    list=$(installing)
    for p in debhelper dpkg-dev cmake libpcsclite-dev libssl-dev libp11-kit-dev libfmt-dev nlohmann-json3-dev gettext; do
        has "$list" "$p" || fail "the package set lacks $p: $list"
    done
    # debian/control's Build-Depends field (it may span lines), one package name per entry.
    build_depends=$(sed -n '/^Build-Depends:/,/^[A-Z][A-Za-z-]*:/p' "$here/../../debian/control" | grep -v '^Standards-Version:' |
        sed 's/^Build-Depends://' | tr ',' '\n' | sed 's/(.*)//; s/^[[:space:]]*//; s/[[:space:]]*$//' | grep -v '^debhelper-compat$' | grep -v '^$')
    [ -n "$build_depends" ] || fail "could not read Build-Depends from debian/control"
    for p in $build_depends; do has "$list" "$p" || fail "debian/control Build-Depends $p, which the package set lacks: $list"; done
    for p in $list; do
        case $p in firefox* | libreoffice* | clang* | pcscd | vsmartcard-vpcd | locales | catch2)
            fail "the package set installs $p, which building the package does not need: $list" ;;
        esac
    done ;;
demo-set)
    # The demo installs what it runs, and none of the tests' heavy clients.
    deps --dry-run demo; expect_ok --dry-run demo
    list=$(installing)
    for p in build-essential cmake libpcsclite-dev libssl-dev libp11-kit-dev catch2 libfmt-dev \
             nlohmann-json3-dev gettext pcscd vsmartcard-vpcd opensc openssl; do
        has "$list" "$p" || fail "the demo set lacks $p: $list"
    done
    for p in $list; do
        case $p in
            firefox* | libreoffice* | *-uno | clang* | libclang* | libnss3* | xmlsec1 | libxmlsec1* | \
            gnutls-bin | curl | poppler-utils | python3* | locales)
                fail "the demo set installs $p, which only the tests use: $list" ;;
        esac
    done
    grep -q 'locale' <<<"$out" && fail "the demo generates a locale: $out"
    ;;
demo-within-tests)
    # run-tests.sh builds as the demo does: the tests set holds every package of the demo set.
    deps --dry-run demo; demo=$(installing)
    deps --dry-run tests; expect_ok --dry-run tests; tests=$(installing)
    for p in $demo; do has "$tests" "$p" || fail "the tests set lacks the demo's $p"; done
    has "$tests" firefox-esr && has "$tests" clang-tidy && has "$tests" libnss3-tools ||
        fail "the tests set lacks the e2e clients or clang-tidy: $tests"
    ;;
tests-no-libreoffice)
    # No LibreOffice at all: the headless variant, the smallest that the e2e tests can drive.
    deps --dry-run tests; expect_ok --dry-run tests
    list=$(installing)
    has "$list" libreoffice-writer-nogui && has "$list" python3-uno || fail "no -nogui LibreOffice: $list"
    has "$list" libreoffice-writer && fail "the desktop libreoffice-writer chosen on a machine without LibreOffice"
    ;;
tests-nogui-libreoffice)
    # The headless LibreOffice already there: kept, nothing of the desktop one added.
    FAKE_INSTALLED="libreoffice-core-nogui libreoffice-writer-nogui" deps --dry-run tests
    expect_ok --dry-run tests
    list=$(installing)
    has "$list" libreoffice-writer-nogui && fail "installs libreoffice-writer-nogui again: $list"
    has "$list" libreoffice-writer && fail "adds the desktop libreoffice-writer to a -nogui one: $list"
    has "$list" python3-uno || fail "python3-uno missing: $list"
    ;;
tests-desktop-core)
    # A desktop LibreOffice (libreoffice-core, e.g. with Calc only): completed with Writer and the
    # Python bridge; the -nogui variant would replace it.
    FAKE_INSTALLED="libreoffice-core libreoffice-common" deps --dry-run tests
    expect_ok --dry-run tests
    list=$(installing)
    has "$list" libreoffice-writer-nogui && fail "picks the -nogui variant next to a desktop LibreOffice: $list"
    has "$list" libreoffice-writer && has "$list" python3-uno ||
        fail "does not complete the desktop LibreOffice with libreoffice-writer python3-uno: $list"
    ;;
tests-desktop-writer)
    FAKE_INSTALLED="libreoffice-writer" deps --dry-run tests
    expect_ok --dry-run tests
    list=$(installing)
    [[ $list == *libreoffice* ]] && fail "touches the desktop Writer already installed: $list"
    has "$list" python3-uno || fail "python3-uno missing: $list"
    ;;
no-remove-shown)
    # The install command, as --dry-run shows it: apt may not remove anything.
    deps --dry-run tests; expect_ok --dry-run tests
    cmd=$(grep "^install-deps: would run: .*$INSTALL_DEPS_APT_GET install " <<<"$out") ||
        fail "no apt-get install command shown: $out"
    has "$cmd" --no-remove || fail "apt-get install without --no-remove: $cmd"
    has "$cmd" -y && has "$cmd" --no-install-recommends || fail "unexpected install command: $cmd"
    # Shown, not run: only the simulation reached apt.
    grep -qv '^apt-get -s ' "$FAKE_LOG" && fail "--dry-run ran something: $(cat "$FAKE_LOG")"
    ;;
no-remove-run)
    # The real run (root only: otherwise the script would go through sudo): the fake apt-get is
    # called to update, to simulate, then (after vpcd's diversion) to install with --no-remove,
    # after the one line.
    [ "$(id -u)" = 0 ] || { echo "SKIP: needs root (the real run would use sudo)"; exit 77; }
    deps demo; expect_ok demo
    list=$(installing)
    mapfile -t calls <"$FAKE_LOG"
    [ "${#calls[@]}" = 4 ] || fail "expected update, simulation, diversion, install; got: $(cat "$FAKE_LOG")"
    [ "${calls[0]}" = "apt-get update -q" ] || fail "first call: ${calls[0]}"
    [ "${calls[1]}" = "apt-get -s -q install --no-install-recommends $list" ] || fail "simulation: ${calls[1]}"
    [[ ${calls[2]} == "dpkg-divert "* ]] || fail "third call: ${calls[2]}"
    [ "${calls[3]}" = "apt-get install -y -q --no-install-recommends --no-remove $list" ] ||
        fail "the install is not the --no-remove one: ${calls[3]}"
    [ "$(head -n 1 <<<"$out")" = "install-deps: installing for the demo: $list" ] ||
        fail "the one line does not come first: $out"
    ;;
vpcd-reader-diverted)
    # Installing vsmartcard-vpcd: its reader for the system's pcscd is diverted out of
    # /etc/reader.conf.d first; one installed before is not touched.
    deps --dry-run demo; expect_ok --dry-run demo
    divert=$(grep -n "^install-deps: would run: $INSTALL_DEPS_DPKG_DIVERT " <<<"$out") ||
        fail "vsmartcard-vpcd installed without diverting its reader: $out"
    [[ $divert == *" --local --rename --divert /etc/vpcd.reader.conf.jpki-pkcs11-disabled --add /etc/reader.conf.d/vpcd" ]] ||
        fail "unexpected diversion: $divert"
    install=$(grep -n "would run: .* install -y" <<<"$out")
    [ "${divert%%:*}" -lt "${install%%:*}" ] || fail "the diversion comes after the install: $out"
    FAKE_INSTALLED="vsmartcard-vpcd" deps --dry-run demo; expect_ok --dry-run demo
    grep -q "dpkg-divert" <<<"$out" && fail "diverts the reader of a vsmartcard-vpcd installed before: $out"
    ;;
nothing-missing)
    # Everything there: one line saying so, apt never called (for real or simulated).
    export FAKE_INSTALLED="*"
    for purpose in demo tests; do
        deps --dry-run "$purpose"; expect_ok --dry-run "$purpose"
        grep -q "^install-deps: nothing to install for the $purpose\$" <<<"$out" || fail "no 'nothing to install' line: $out"
        grep -q 'installing\|would run' <<<"$out" && fail "something to do although nothing is missing: $out"
    done
    if [ "$(id -u)" = 0 ]; then
        deps demo; expect_ok demo
        [ "$out" = "install-deps: nothing to install for the demo" ] || fail "real run said: $out"
    fi
    [ -s "$FAKE_LOG" ] && fail "apt-get or dpkg-divert called although nothing is missing: $(cat "$FAKE_LOG")"
    ;;
removal-refused)
    # apt's plan removes an installed package: nothing is installed, the responsible package and
    # what it would remove are named, and the way out is said.
    export FAKE_REMOVES="vsmartcard-vpcd:other-reader-driver openssl:old-openssl-fork"
    deps --dry-run demo
    [ "$rc" != 0 ] || fail "went on although apt would remove a package: $out"
    grep -q 'would run: .* install -y' <<<"$out" && fail "would still install: $out"
    grep -q '^install-deps:   vsmartcard-vpcd would remove: other-reader-driver$' <<<"$err" &&
        grep -q '^install-deps:   openssl would remove: old-openssl-fork$' <<<"$err" ||
        fail "does not name each package and what it would remove: $err"
    grep -q 'never removes' <<<"$err" && grep -q 'yourself' <<<"$err" || fail "does not say what to do: $err"
    if [ "$(id -u)" = 0 ]; then
        : >"$FAKE_LOG"
        deps demo
        [ "$rc" != 0 ] || fail "the real run went on: $out"
        grep -q '^apt-get install \|^dpkg-divert' "$FAKE_LOG" && fail "the real run changed something: $(cat "$FAKE_LOG")"
    fi
    ;;
usage)
    deps; [ "$rc" = 2 ] || fail "no purpose: exit $rc"
    deps --dry-run everything; [ "$rc" = 2 ] || fail "unknown purpose: exit $rc"
    [ -s "$FAKE_LOG" ] && fail "apt-get called on a usage error"
    ;;
*) fail "unknown case $1" ;;
esac
echo "ok $1"
