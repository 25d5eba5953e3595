#!/usr/bin/env bash
# docs.check-catches-faults: check-docs.sh fails on each kind of fault it exists to catch, so that
# docs.check passing means something. Each case copies the real pages into a scratch tree, adds
# one fault to README.md, and expects check-docs.sh to fail naming it; the unchanged copy passes.
# Usage: test-check-docs.sh SOURCE_DIR JPKI_PROGRAM
# The fault texts are markdown, and their backticks and $ are meant literally.
# shellcheck disable=SC2016
set -euo pipefail

src=${1:?usage: test-check-docs.sh SOURCE_DIR JPKI_PROGRAM}
jpki=${2:?usage: test-check-docs.sh SOURCE_DIR JPKI_PROGRAM}
check=$(cd "$(dirname "$0")" && pwd)/check-docs.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/jpki-docs.XXXXXX")
trap 'rm -rf "$work"' EXIT

fresh() {  # a scratch copy of the pages
    rm -rf "$work/tree" && mkdir -p "$work/tree"
    cp "$src"/README*.md "$work/tree/" && cp -r "$src/docs" "$work/tree/"
    # Pages link to a few files outside docs/: make them exist in the copy.
    for f in bench/README.md pkcs11-spy-config/README.md; do
        mkdir -p "$work/tree/$(dirname "$f")" && touch "$work/tree/$f"
    done
}

fresh
"$check" "$work/tree" "$jpki" >/dev/null || { echo "FAIL: the unchanged pages do not pass"; exit 1; }

failures=0
expect_fault() {  # NAME TEXT-APPENDED-TO-README EXPECTED-MESSAGE-PART
    fresh
    printf '\n%s\n' "$2" >>"$work/tree/README.md"
    if "$check" "$work/tree" "$jpki" >"$work/out" 2>&1; then
        echo "FAIL: $1: check-docs.sh passed"; failures=$((failures + 1))
    elif ! grep -qF -- "$3" "$work/out"; then
        echo "FAIL: $1: no message naming '$3':"; cat "$work/out"; failures=$((failures + 1))
    else
        echo "ok: $1"
    fi
}

expect_fault broken-link 'See [the page](docs/no-such-page.md#anchor).' 'broken link (docs/no-such-page.md#anchor)'
expect_fault old-module-name 'Add "JPKI My Number Card" in Firefox.' "old name"
expect_fault placeholder-path '    modutil -dbdir sql:$HOME/x -add "My Number Card (JPKI)" -libfile /path/to/jpki-pkcs11.so' "placeholder '/path/to/'"
expect_fault unknown-command 'Run `jpki unlock sign`.' "'jpki unlock' is not a jpki command"
expect_fault unknown-subcommand '    jpki setup opera' "'jpki setup opera' is not in"
expect_fault unknown-alternative 'Run `jpki pin reset|change auth`.' "'jpki pin reset' is not in"
expect_fault unknown-option 'Run `jpki status --verbose`.' "has no option --verbose"

fresh
echo '# A page nobody links to' >"$work/tree/docs/orphan.md"
if "$check" "$work/tree" "$jpki" >"$work/out" 2>&1 || ! grep -qF 'docs/orphan.md: no other page links to it' "$work/out"; then
    echo "FAIL: orphan-page: not reported"; cat "$work/out"; failures=$((failures + 1))
else
    echo "ok: orphan-page"
fi

[ "$failures" = 0 ] || exit 1
echo "PASS: check-docs.sh catches each fault"
