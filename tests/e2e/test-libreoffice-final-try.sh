#!/usr/bin/env bash
# The final-try guard against LibreOffice: a wrong signature PIN, given while the card has 2
# tries left, is replayed by NSS's retry loop (LibreOffice answers each retry with the same
# PIN, as its PDF-signing password callback does) until the token refuses. jpki-pkcs11.so
# must spend the first try only and answer the replay with CKR_PIN_LOCKED: afterwards the
# card still has exactly 1 try left, LibreOffice found no certificate, the signed export
# failed without output, and soffice.bin ended normally.
# Control: the same run with JPKI_PKCS11_ALLOW_FINAL_TRY=1 does spend the last try (the card
# locks), which shows the replay is real and the guard is what stopped it.
source "$(dirname "${BASH_SOURCE[0]}")/libreoffice_common.sh"
lo_require

base=$(mktemp -d "${TMPDIR:-/tmp}/e2e-libreoffice-final-try.XXXXXX") || fail "mktemp"
trap 'rm -rf "$base"' EXIT
wrong=ABC124   # well-formed (6 of 0-9 A-Z), so it reaches the card

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

# --- control: the guard switched off, the very same replay locks the card
out=$base/control
LO_ENV=("JPKI_PKCS11_ALLOW_FINAL_TRY=1")
lo_session "$out" "$wrong" --sign-tries 2
rc=$?
[ -s "$out/result.json" ] || fail "control: the LibreOffice helper wrote no result (exit $rc)"
lo_check_nothing_left "$out"
echo "--- card state (control, JPKI_PKCS11_ALLOW_FINAL_TRY=1)"; cat "$out/state"
echo "--- PIN VERIFYs (control)"; lo_pin_verifies "$out/lo-trace"
grep -qx 'sign_tries=0' "$out/state" ||
    fail "control: without the guard the replayed PIN did not lock the card; the guarded run proves nothing"
echo "PASS: the wrong PIN was tried once; the replay got CKR_PIN_LOCKED and the card kept its last try"
