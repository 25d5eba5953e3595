#!/usr/bin/env bash
# e2e.nss-pinfile-two-cards: the known limitation docs/nss-tools.md describes. Both cards' tokens
# carry the same labels, so NSS sends a pin file's per-token line to the token of that label on
# each card: card 2 gets card 1's signature password, which has the right format, reaches the
# card and is wrong, and card 2 loses a try. With card 2 out of its reader the same command
# costs nothing. If this test starts failing because card 2 no longer loses a try, the
# limitation is gone: update docs/nss-tools.md (and docs/ja/troubleshooting.md) with it.
# The bash -c scripts expand their variables inside with-vcard.sh (exported), not here.
# shellcheck disable=SC2016
source "$(dirname "$0")/lib-nss.sh"
need certutil libnss3-tools
e2e_setup

db=$work/nssdb
nss_new_db "$db"
printf '%s:%s\n' "$SIGN_TOKEN" "$SIGN_PIN" >"$work/pin-line"   # card 1's, as the docs show it
card2_sign_pin=XYZ789
export work E2E_CLIENT_TIMEOUT db
export -f nss

# Two cards: card 2 has its own keys and another signature password, and its own trace.
in_vcard --second-card --pki-dir "$pki/card2" --sign-pin "$card2_sign_pin" --trace "$work/trace2" -- \
    bash -c 'nss certutil -L -d "sql:$db" -h all -f "$work/pin-line" >"$work/two.out" 2>&1; echo "rc=$?" >>"$work/two.out"' ||
    fail "with-vcard failed"
cat "$work/two.out"
echo "---- card 1's PIN VERIFYs:"; pin_verifies "$work/trace" | tee "$work/v1"
echo "---- card 2's PIN VERIFYs:"; pin_verifies "$work/trace2" | tee "$work/v2"

# Card 1: its password, right.
grep -qx '001B 06 9000' "$work/v1" || fail "card 1 did not get its signature password"
# Card 2: card 1's password reached its signature PIN and was wrong: 4 tries left of 5.
grep -qx '001B 06 63C4' "$work/v2" || fail "card 2 did not lose a try to card 1's password (the documented limitation)"
# Never the authentication PIN of either card.
grep -q '^0018' "$work/v1" "$work/v2" && fail "an authentication PIN was tried"

# One card at a time: the same command with card 1 alone spends nothing but its own right VERIFY.
: >"$work/trace"
in_vcard -- bash -c 'nss certutil -L -d "sql:$db" -h all -f "$work/pin-line" >"$work/one.out" 2>&1' ||
    fail "with-vcard failed"
[ "$(pin_verifies "$work/trace")" = '001B 06 9000' ] || fail "one card: unexpected VERIFYs: $(pin_verifies "$work/trace")"
echo "PASS: with two cards a pin-file line costs card 2 a try (documented); with one card nothing is lost"
