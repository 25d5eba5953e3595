#!/usr/bin/env bash
# read-forms-cache.sh: issue 11's READ BINARY forms are remembered across processes in the
# per-user card cache (src/cache/card_cache.hpp). On a card refusing both the short EF identifier
# and the extended Le, through real pcscd + vpcd:
#  - the module (pkcs11-tool -O on the authentication token): the first process pays the two
#    refused READ BINARYs (SFI in the probe, extended Le in the certificate read), the second
#    none, with the same output;
#  - the `jpki` command (jpki status), with a cache of its own: the same;
#  - a record saying both forms work (as a card of the same model that takes them would leave
#    it) does not stop the card from being read: the reads fall back and the record is corrected.
# Each process's part of the vcard trace is counted (no timing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${JPKI_BUILD_DIR:-$here/../../build}
module=${JPKI_MODULE:-$build/jpki-pkcs11.so}
jpki=${JPKI_CLI:-$build/bin/jpki}
[ -r "$module" ] || { echo "FAIL: module not found at $module" >&2; exit 1; }
[ -x "$jpki" ] || { echo "FAIL: jpki not found at $jpki" >&2; exit 1; }
command -v pkcs11-tool >/dev/null || { [ "${CI:-}" = true ] && { echo "FAIL: no pkcs11-tool" >&2; exit 1; }; exit 77; }

if [ -z "${WITH_VCARD_DIR:-}" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    # XDG_CACHE_HOME unset: with-vcard.sh gives this run an empty cache of its own.
    env -u XDG_CACHE_HOME READ_FORMS_WORK="$work" "$here/with-vcard.sh" --extended-apdu off --short-ef-id off \
        --trace "$work/trace" -- bash "${BASH_SOURCE[0]}"
    exit
fi

work=$READ_FORMS_WORK
fail() { echo "FAIL: $*" >&2; exit 1; }
auth_token='JPKI (User Authentication PIN)'

# refused_since LINE: READ BINARYs after trace line LINE that the card refused: by short EF
# identifier (P1 >= 80) or with an extended Le, answered neither 9000 nor 6982/6A82.
refused_since() {
    tail -n "+$(($1 + 1))" "$work/trace" | grep -v '^#' | awk '
        /^00B0/ { sfi = substr($1, 5, 1) >= "8"; ext = length($1) == 14;
                  if ((sfi || ext) && $2 != "9000" && $2 != "6982" && $2 != "6A82") n++ }
        END { print n + 0 }'
}
lines() { wc -l <"$work/trace"; }

# run NAME COMMAND...: runs it, keeps its output in $work/NAME.out, prints its refused READ BINARYs.
run() {
    local name=$1 start
    shift
    start=$(lines)
    "$@" >"$work/$name.out" 2>"$work/$name.err" || { cat "$work/$name.err" >&2; fail "$name failed"; }
    grep -q 'card cache' "$work/$name.err" && { cat "$work/$name.err" >&2; fail "$name: a card cache problem was told"; }
    refused_since "$start"
}

p11=(pkcs11-tool --module "$module" --token-label "$auth_token" -O)

n=$(run module1 "${p11[@]}")
[ "$n" = 2 ] || fail "module, first process: $n refused READ BINARYs (expected 2: the card refuses both forms)"
n=$(run module2 "${p11[@]}")
[ "$n" = 0 ] || fail "module, second process: $n refused READ BINARYs (expected 0: the cache knows both forms are refused)"
cmp -s "$work/module1.out" "$work/module2.out" || fail "module: the second process lists other objects"

export XDG_CACHE_HOME="$WITH_VCARD_DIR/cli-cache"
n=$(run cli1 "$jpki" status)
[ "$n" = 2 ] || fail "jpki, first run: $n refused READ BINARYs (expected 2)"
n=$(run cli2 "$jpki" status)
[ "$n" = 0 ] || fail "jpki, second run: $n refused READ BINARYs (expected 0)"
# Same output but for the days left, which a midnight between two runs changes.
same_status() { diff -q <(grep -v 'days left' "$work/$1.out") <(grep -v 'days left' "$work/$2.out") >/dev/null; }
same_status cli1 cli2 || fail "jpki: the second run prints something else"

# A record of both forms working (another card of the same ATR in this reader, say): rewritten.
records=("$XDG_CACHE_HOME"/jpki-pkcs11/*)
[ "${#records[@]}" = 1 ] || fail "jpki: ${#records[@]} records in the cache (expected 1)"
printf 'jpki-pkcs11 card cache 1\nread.short_ef_id = yes\nread.extended = yes\n' >"${records[0]}"
n=$(run cli3 "$jpki" status)
[ "$n" = 2 ] || fail "jpki with a stale record: $n refused READ BINARYs (expected 2: each form tried once, then fallen back)"
same_status cli1 cli3 || fail "jpki with a stale record prints something else"
if ! grep -qx 'read.short_ef_id = no' "${records[0]}" || ! grep -qx 'read.extended = no' "${records[0]}"; then
    fail "the stale record was not corrected: $(cat "${records[0]}")"
fi
n=$(run cli4 "$jpki" status)
[ "$n" = 0 ] || fail "jpki after the correction: $n refused READ BINARYs (expected 0)"
echo "ok: the refused READ BINARY forms are paid once per card model and reader, not per process"
