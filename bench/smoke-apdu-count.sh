#!/usr/bin/env bash
# bench.apdu-count-smoke: bench/apdu-count.sh still runs and prints its tables (scripts that no
# test runs rot). One flow (pkcs11-tool -L), our module only, the all-on variant, then the
# --readme table with a short CPU-per-signature run. It checks that a table with a figure comes
# out, never what the figure is: the benchmark has no pass/fail on counts or time (issue 11).
# Exit 0 ok, 1 failed, 77 skipped (a tool missing outside CI; in CI, env CI=true, a failure).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in pkcs11-tool:opensc pcscd:pcscd; do
    if ! command -v "${tool%%:*}" >/dev/null 2>&1; then
        [ "${CI:-}" = true ] && fail "${tool%%:*} missing (Debian package ${tool#*:})"
        echo "SKIP: ${tool%%:*} not installed (Debian package ${tool#*:})" >&2; exit 77
    fi
done

out=$(bash "$here/apdu-count.sh" --opensc none --flows 1 --variants all-on --cpu-signatures 0) ||
    fail "apdu-count.sh exited $?"
printf '%s\n' "$out"
grep -q '^## Variant all-on' <<<"$out" || fail "no table for the all-on variant"
grep -qE '^\| 1\. pkcs11-tool -L \| [0-9]+ \([0-9]+\) \| [0-9.]+ s \|' <<<"$out" ||
    fail "no APDU count and estimated time for flow 1 (a flow that failed shows n/a)"

out=$(bash "$here/apdu-count.sh" --readme --opensc none --flows 1 --variants all-on --cpu-signatures 3) ||
    fail "apdu-count.sh --readme exited $?"
printf '%s\n' "$out"
grep -qE '^\| 1\. pkcs11-tool -L \| [^|]+ \| [0-9]+' <<<"$out" || fail "--readme: no figure for flow 1"
grep -qE '^CPU per signature \(all-on\): jpki-pkcs11 [0-9.]+ (µs|ms)' <<<"$out" ||
    fail "--readme: no CPU per signature"
echo PASS
