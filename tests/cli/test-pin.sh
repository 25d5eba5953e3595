#!/usr/bin/env bash
# `jpki pin change|verify` against the virtual card behind a private pcscd (with-vcard.sh), in
# English and Japanese: exact messages, exit codes, and from the card's APDU trace what was sent
# (a PIN never goes out when the entries are malformed or differ, or at 1 try left unconfirmed).
#
# Each case runs in two parts: its body inside with-vcard.sh (this script again, with --inside),
# then, outside, checks on the trace the card wrote.
source "$(dirname "$0")/lib.sh"
cases=(help-en help-ja
       change-auth-en change-sign-ja change-sign-lowercase-en
       change-mismatch-en change-mismatch-ja change-malformed-old-en change-malformed-new-ja
       change-wrong-old-en change-wrong-old-ja change-one-try-en change-one-try-ja
       verify-en verify-ja verify-one-try-unconfirmed-en verify-one-try-unconfirmed-ja
       verify-one-try-yes-en verify-one-try-yes-ja verify-one-try-answer-yes verify-one-try-wrong-ja
       locked-en locked-ja no-sign-cert-en no-sign-cert-ja)
[ "${1:-}" = --list ] && { printf '%s\n' "${cases[@]}"; exit 0; }
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

# The APDUs that carry a PIN: VERIFY with data (an empty VERIFY only reads the counter) and
# CHANGE REFERENCE DATA. The trace redacts PINs as '*'.
pin_apdus() { grep -E '^(002000[0-9A-F]{2}[0-9A-F]{2}\*|0024)' "$trace" || true; }
expect_no_pin_sent() { [ -z "$(pin_apdus)" ] || fail "a PIN went to the card:
$(pin_apdus)"; }
# The card was reset after the last PIN-carrying APDU (OpenCard's destructor).
expect_reset_after_pin() {
    local last_pin last_reset
    last_pin=$(grep -nE '^(002000[0-9A-F]{2}[0-9A-F]{2}\*|0024)' "$trace" | tail -1 | cut -d: -f1)
    last_reset=$(grep -n '^# reset' "$trace" | tail -1 | cut -d: -f1)
    [ -n "$last_pin" ] && [ -n "$last_reset" ] && [ "$last_reset" -gt "$last_pin" ] ||
        fail "no '# reset' after the last PIN APDU:
$(cat "$trace")"
}

# ---- inside with-vcard.sh -------------------------------------------------------------------
inside() {
case $1 in
help-en)
    run_jpki en pin --help; expect_rc 0
    expect_line out "Usage: jpki pin change auth|sign [--reader NAME]"
    expect_line out "  --yes          (verify) use the last try without asking (for scripts)" ;;
help-ja)
    run_jpki ja pin --help; expect_rc 0
    expect_line out "使い方: jpki pin change auth|sign [--reader 名前]"
    expect_line out "  --yes          （verify）確認なしで最後の1回を使います（スクリプト用）" ;;
change-auth-en)
    run_jpki en pin change auth <<<$'1234\n5678\n5678'; expect_rc 0
    expect_line out "The authentication PIN has been changed (3 tries available)."
    run_jpki en pin verify auth <<<'5678'; expect_rc 0
    expect_line out "The authentication PIN is correct (3 tries available)."
    run_jpki en pin verify auth <<<'1234'; expect_rc 4
    expect_line err "Wrong authentication PIN. 2 tries left before it locks." ;;
change-sign-ja)
    run_jpki ja pin change sign <<<$'ABC123\nNEWPASS9\nNEWPASS9'; expect_rc 0
    expect_line out "署名用の暗証番号を変更しました（残り5回）。"
    expect_no_text out "英小文字"
    run_jpki ja pin verify sign <<<'NEWPASS9'; expect_rc 0
    expect_line out "署名用の暗証番号は正しく入力されました（残り5回）。"
    run_jpki ja pin verify sign <<<'ABC123'; expect_rc 4
    expect_line err "署名用の暗証番号が違います。ロックされるまで残り4回です。" ;;
change-sign-lowercase-en)
    # The card layer upper-cases a-z; the holder is told so, and the PIN is never printed.
    run_jpki en pin change sign <<<$'abc123\nnewpass9\nNEWpass9'; expect_rc 0
    expect_line out "The signature password has been changed (5 tries available)."
    expect_line out "Lower-case letters count as capitals: your new signature password is what you typed, in capital letters."
    expect_no_text out "newpass9"; expect_no_text out "NEWPASS9"
    run_jpki en pin verify sign <<<'NEWPASS9'; expect_rc 0
    expect_line out "The signature password is correct (5 tries available)."
    run_jpki en pin verify sign <<<'newpass9'; expect_rc 0
    expect_line out "Lower-case letters count as capitals: the card took your entry in capital letters."
    run_jpki en pin change sign <<<$'newpass9\nOTHER77\nOTHER77'; expect_rc 0   # only the current one in lower case
    expect_line out "Lower-case letters count as capitals: the card took your entry in capital letters."
    run_jpki en pin change sign <<<$'OTHER77\nLAST88\nLAST88'; expect_rc 0
    expect_no_text out "Lower-case" ;;
change-mismatch-en)
    run_jpki en pin change auth <<<$'1234\n5678\n5679'; expect_rc 2
    expect_line err "The two entries of the new PIN differ. Nothing was sent to the card." ;;
change-mismatch-ja)
    run_jpki ja pin change sign <<<$'ABC123\nNEWPASS1\nNEWPASS2'; expect_rc 2
    expect_line err "新しい暗証番号が1回目と2回目で一致しません。カードには何も送っていません。" ;;
change-malformed-old-en)
    run_jpki en pin change auth <<<$'12a4\n5678\n5678'; expect_rc 2
    expect_line err "The authentication PIN is exactly 4 digits. Nothing was sent to the card." ;;
change-malformed-new-ja)
    run_jpki ja pin change sign <<<$'ABC123\nAB1\nAB1'; expect_rc 2
    expect_line err "署名用の暗証番号は英大文字（A-Z）と数字の6～16文字です。カードには何も送っていません。" ;;
change-wrong-old-en)
    run_jpki en pin change auth <<<$'9999\n5678\n5678'; expect_rc 4
    expect_line err "Wrong authentication PIN. 2 tries left before it locks."
    run_jpki en pin verify auth <<<'1234'; expect_rc 0   # unchanged, and the counter full again
    expect_line out "The authentication PIN is correct (3 tries available)." ;;
change-wrong-old-ja)
    run_jpki ja pin change sign <<<$'WRONG1\nNEWPASS9\nNEWPASS9'; expect_rc 4
    expect_line err "署名用の暗証番号が違います。ロックされるまで残り4回です。" ;;
change-one-try-en)
    run_jpki en pin change auth <<<$'1234\n5678\n5678'; expect_rc 5
    expect_line err "The authentication PIN has only 1 try left, so nothing was sent to the card: a wrong entry would lock it. If you are sure of it, use 'jpki pin verify auth'." ;;
change-one-try-ja)
    run_jpki ja pin change sign <<<$'ABC123\nNEWPASS9\nNEWPASS9'; expect_rc 5
    expect_line err "署名用の暗証番号の残り回数が1回のため、カードには何も送っていません（間違えるとロックされます）。確実に分かっている場合は 'jpki pin verify sign' を使ってください。" ;;
verify-en)
    run_jpki en pin verify auth <<<'1234'; expect_rc 0
    expect_line out "The authentication PIN is correct (3 tries available)." ;;
verify-ja)
    run_jpki ja pin verify sign <<<'ABC123'; expect_rc 0
    expect_line out "署名用の暗証番号は正しく入力されました（残り5回）。" ;;
verify-one-try-unconfirmed-en)
    run_jpki en pin verify auth </dev/null; expect_rc 5
    expect_line err "The authentication PIN has only 1 try left. A wrong entry now locks it, and only your city office can unlock it (bring the card and an identity document)."
    expect_line err "Use the last try? [yes/no] "
    expect_line err "Not confirmed: nothing was sent to the card."
    run_jpki en pin verify auth <<<$'no\n1234'; expect_rc 5
    expect_line err "Not confirmed: nothing was sent to the card." ;;
verify-one-try-unconfirmed-ja)
    run_jpki ja pin verify sign </dev/null; expect_rc 5
    expect_line err "署名用の暗証番号の残り回数は1回です。ここで間違えるとロックされ、解除は市区町村の窓口でしかできません（カードと本人確認書類が必要です）。"
    expect_line err "確認が得られなかったため、カードには何も送っていません。" ;;
verify-one-try-yes-en)
    run_jpki en pin verify auth --yes <<<'1234'; expect_rc 0
    expect_line out "The authentication PIN is correct (3 tries available)." ;;
verify-one-try-yes-ja)
    run_jpki ja pin verify sign --yes <<<'ABC123'; expect_rc 0
    expect_line out "署名用の暗証番号は正しく入力されました（残り5回）。" ;;
verify-one-try-answer-yes)
    run_jpki en pin verify auth <<<$'yes\n1234'; expect_rc 0
    expect_line out "The authentication PIN is correct (3 tries available)." ;;
verify-one-try-wrong-ja)
    run_jpki ja pin verify auth --yes <<<'9999'; expect_rc 5
    expect_line err "利用者証明用の暗証番号はロックされています。解除は市区町村の窓口でのみできます。カードと本人確認書類を持って行ってください。" ;;
locked-en)
    run_jpki en pin verify sign --yes <<<'ABC123'; expect_rc 5
    expect_line err "The signature password is locked. Only your city office can unlock it: bring the card and an identity document."
    run_jpki en pin change sign <<<$'ABC123\nNEWPASS9\nNEWPASS9'; expect_rc 5
    expect_line err "The signature password is locked. Only your city office can unlock it: bring the card and an identity document." ;;
locked-ja)
    run_jpki ja pin verify auth <<<'1234'; expect_rc 5
    expect_line err "利用者証明用の暗証番号はロックされています。解除は市区町村の窓口でのみできます。カードと本人確認書類を持って行ってください。" ;;
no-sign-cert-en)
    # Issue 8: was "The card answered with an error: SELECT EF: card answered 6A82 (file not found)".
    run_jpki en pin verify sign <<<'ABC123'; expect_rc 1
    expect_line err "This card has no signature password (no signing certificate: cards issued to under-15s)."
    run_jpki en pin change sign <<<$'ABC123\nNEWPASS9\nNEWPASS9'; expect_rc 1
    expect_line err "This card has no signature password (no signing certificate: cards issued to under-15s)." ;;
no-sign-cert-ja)
    run_jpki ja pin verify sign <<<'ABC123'; expect_rc 1
    expect_line err "このカードには署名用の暗証番号がありません（署名用電子証明書がありません。15歳未満の方のカードです）。"
    run_jpki ja pin change sign <<<$'ABC123\nNEWPASS9\nNEWPASS9'; expect_rc 1
    expect_line err "このカードには署名用の暗証番号がありません（署名用電子証明書がありません。15歳未満の方のカードです）。" ;;
*) fail "unknown case $1" ;;
esac
}

if [ "${1:-}" = --inside ]; then inside "$2"; exit $?; fi

# ---- outside: the card's options, then the trace ---------------------------------------------
case=${1:?case}
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
trace=$scratch/trace
case $case in
help-*) inside "$case"; exit $? ;;
change-one-try-en|verify-one-try-unconfirmed-en|verify-one-try-yes-en|verify-one-try-answer-yes|verify-one-try-wrong-ja)
    card_options=(--auth-tries 1) ;;
change-one-try-ja|verify-one-try-unconfirmed-ja|verify-one-try-yes-ja) card_options=(--sign-tries 1) ;;
locked-en) card_options=(--sign-tries 0) ;;
locked-ja) card_options=(--auth-tries 0) ;;
no-sign-cert-*) card_options=(--no-sign-cert) ;;
*) card_options=() ;;
esac
bash "$WITH_VCARD" "${card_options[@]}" --state "$scratch/state" --trace "$trace" -- bash "$self" --inside "$case" ||
    fail "case $case failed inside with-vcard.sh"

case $case in
change-mismatch-*|change-malformed-*|change-one-try-*|verify-one-try-unconfirmed-*|locked-*|no-sign-cert-*)
    expect_no_pin_sent ;;
change-auth-en)
    # one CHANGE REFERENCE DATA, after the VERIFY of the old PIN in the same transaction
    [ "$(grep -c '^0024' "$trace")" = 1 ] || fail "expected one CHANGE REFERENCE DATA:
$(cat "$trace")"
    expect_reset_after_pin ;;
verify-*|change-*) expect_reset_after_pin ;;
esac
exit 0
