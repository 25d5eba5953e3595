# tests/cli/lib.sh: shared by the `jpki` command's tests (source it). Each test script:
#   test-AREA.sh --list   prints its case names, one per line (tests/cli/CMakeLists.txt)
#   test-AREA.sh CASE     runs one case; exit 0 = pass
#
# In English:  en jpki ARGS...   (LC_ALL=C.UTF-8)
# In Japanese: ja jpki ARGS...   (LC_ALL=ja_JP.UTF-8)
# run_jpki LANGFN ARGS...: runs the command, keeping stdout in $out, stderr in $err, exit code in $rc.
set -uo pipefail

cli_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$cli_here/../.." && pwd)
build=${JPKI_BUILD_DIR:-$repo/build}
JPKI=${JPKI:-$build/bin/jpki}
WITH_VCARD=$repo/tests/pcsc/with-vcard.sh
export NO_COLOR=1

en() { env -u LANGUAGE LC_ALL=C.UTF-8 LANG=C.UTF-8 "$@"; }
ja() { env -u LANGUAGE LC_ALL=ja_JP.UTF-8 LANG=ja_JP.UTF-8 "$@"; }

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# run_jpki en|ja [ARGS...] [< input]: $out, $err, $rc
run_jpki() {
    local lang=$1; shift
    local o e
    o=$(mktemp) e=$(mktemp)
    "$lang" "$JPKI" "$@" >"$o" 2>"$e"
    rc=$?
    out=$(cat "$o") err=$(cat "$e")
    rm -f "$o" "$e"
}

expect_rc() { [ "$rc" = "$1" ] || fail "exit code $rc, expected $1${2:+ ($2)}; stdout: $out; stderr: $err"; }
# expect_line WHERE TEXT: WHERE is out or err; TEXT must be one whole line of it.
expect_line() {
    local where=$1 text=$2 content
    content=${!where}
    grep -qxF -- "$text" <<<"$content" || fail "no line '$text' in $where:
$content"
}
# expect_text WHERE TEXT: TEXT appears somewhere in it.
expect_text() {
    local where=$1 text=$2 content
    content=${!where}
    grep -qF -- "$text" <<<"$content" || fail "no '$text' in $where:
$content"
}
expect_no_text() {
    local where=$1 text=$2 content
    content=${!where}
    ! grep -qF -- "$text" <<<"$content" || fail "unexpected '$text' in $where:
$content"
}

# list_cases "$@" case1 case2 ...: handles --list
list_cases_if_asked() {
    if [ "${1:-}" = --list ]; then shift; printf '%s\n' "$@"; exit 0; fi
}
