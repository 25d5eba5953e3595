#!/usr/bin/env bash
# A wrong signature PIN against LibreOffice's PDF export: NSS asks its password callback again
# after CKR_PIN_INCORRECT and LibreOffice answers each time with the same PIN (its PDF-signing
# callback does), a loop that used to cost a try per round. jpki-pkcs11.so must send the wrong
# PIN once and refuse the repeats without a VERIFY (docs/design.md §3 "Login": the first repeat
# CKR_PIN_INCORRECT, then CKR_PIN_LOCKED, which ends NSS's loop):
# - 5 tries left: afterwards the card has exactly 4, one VERIFY with data in the trace;
# - 2 tries left: the one VERIFY leaves 1, and the final-try guard stands behind the refusal;
# - 2 tries left with the final-try guard off (JPKI_PKCS11_ALLOW_FINAL_TRY=1): the repeats still
#   never reach the card, so the card keeps its last try (before the refusal of repeats, this
#   run locked the card).
# Each time LibreOffice found no certificate, the signed export failed without output, and
# soffice.bin ended normally.
source "$(dirname "${BASH_SOURCE[0]}")/libreoffice_common.sh"
lo_require

base=$(mktemp -d "${TMPDIR:-/tmp}/e2e-libreoffice-final-try.XXXXXX") || fail "mktemp"
trap 'rm -rf "$base"' EXIT
wrong=ABC124   # well-formed (6 of 0-9 A-Z), so it reaches the card

# --- 5 tries: one wrong entry costs exactly one
out=$base/five
lo_session "$out" "$wrong"
rc=$?
[ -s "$out/result.json" ] || fail "five: the LibreOffice helper wrote no result (exit $rc)"
echo "--- helper result (5 tries)"; cat "$out/result.json"; echo
[ "$rc" = 0 ] || fail "five: the LibreOffice run failed (exit $rc)"
lo_check_nothing_left "$out"
echo "--- card state (5 tries)"; cat "$out/state"
echo "--- PIN VERIFYs (5 tries)"; lo_pin_verifies "$out/lo-trace"
[ "$(lo_pin_verifies "$out/lo-trace")" = "001B 63C4" ] ||
    fail "five: expected exactly one VERIFY of the signature PIN, answered 63C4"
grep -qx 'sign_tries=4' "$out/state" || fail "five: the wrong PIN did not cost exactly one try"
prompts=$(lo_result "$out" 'len(r["pin_prompts"])')
[ "$prompts" -ge 3 ] || fail "five: LibreOffice did not answer again (prompts: $prompts); nothing was repeated"
[ "$(lo_result "$out" 'r["steps"]["pdf_export"]["ok"]')" = False ] || fail "five: signed export succeeded"
[ "$(lo_result "$out" 'r["soffice_exit"]')" = 0 ] || fail "five: soffice.bin did not exit cleanly"
grep -q '^802A' "$out/lo-trace" && fail "five: the card signed something"

# --- guarded run
out=$base/guard
lo_session "$out" "$wrong" --sign-tries 2
rc=$?
[ -s "$out/result.json" ] || fail "the LibreOffice helper wrote no result (exit $rc)"
echo "--- helper result (guarded)"; cat "$out/result.json"; echo
[ "$rc" = 0 ] || fail "the LibreOffice run failed (exit $rc)"
lo_check_nothing_left "$out"
echo "--- card state"; cat "$out/state"
grep -qx 'sign_tries=1' "$out/state" || fail "the card does not have exactly 1 signature-PIN try left"
grep -qx 'auth_tries=3' "$out/state" || fail "the authentication PIN counter moved"
echo "--- PIN VERIFYs during the LibreOffice run (EF status)"; lo_pin_verifies "$out/lo-trace"
[ "$(lo_pin_verifies "$out/lo-trace")" = "001B 63C1" ] ||
    fail "expected exactly one VERIFY of the signature PIN, answered 63C1"
prompts=$(lo_result "$out" 'len(r["pin_prompts"])')
[ "$prompts" -ge 2 ] || fail "NSS did not ask again after the wrong PIN (prompts: $prompts); nothing was replayed"
[ "$(lo_result "$out" 'r["pin_prompts"][1][1]')" = True ] || fail "the second prompt is not a retry"
[ "$(lo_result "$out" 'r["steps"]["login_and_list"]["ok"]')" = False ] ||
    fail "LibreOffice logged in with a wrong PIN?"
[ "$(lo_result "$out" 'r["steps"]["pdf_export"]["ok"]')" = False ] ||
    fail "the signed PDF export succeeded without a login"
[ ! -e "$out/work/signed.pdf" ] || [ ! -s "$out/work/signed.pdf" ] ||
    fail "a PDF was written although signing failed"
[ "$(lo_result "$out" 'r["soffice_exit"]')" = 0 ] || fail "soffice.bin did not exit cleanly"
grep -q '^802A' "$out/lo-trace" && fail "the card signed something"

# --- the final-try guard switched off: the repeats still never reach the card
out=$base/control
LO_ENV=("JPKI_PKCS11_ALLOW_FINAL_TRY=1")
lo_session "$out" "$wrong" --sign-tries 2
rc=$?
[ -s "$out/result.json" ] || fail "control: the LibreOffice helper wrote no result (exit $rc)"
lo_check_nothing_left "$out"
echo "--- card state (JPKI_PKCS11_ALLOW_FINAL_TRY=1)"; cat "$out/state"
echo "--- PIN VERIFYs (JPKI_PKCS11_ALLOW_FINAL_TRY=1)"; lo_pin_verifies "$out/lo-trace"
[ "$(lo_result "$out" 'len(r["pin_prompts"])')" -ge 2 ] || fail "control: NSS did not ask again"
[ "$(lo_pin_verifies "$out/lo-trace")" = "001B 63C1" ] ||
    fail "control: the repeated wrong PIN reached the card again"
grep -qx 'sign_tries=1' "$out/state" || fail "control: the repeated wrong PIN spent the last try"
echo "PASS: each wrong PIN was tried once; the repeats were refused without reaching the card"
