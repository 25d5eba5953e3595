#!/usr/bin/env bash
# `jpki status` against the virtual card behind a private pcscd (with-vcard.sh), in English and
# Japanese, exact lines asserted: a normal card, certificates in the renewal window and expired
# (the test PKI re-issued at test time: tests/cli/pki-variants.sh), one try left and locked PINs,
# a card without a signing certificate, no reader, no pcscd, --json, and --sign (the holder's data
# from the subjectAltName; the card reset afterwards; a malformed password sends nothing; a wrong
# one reports the tries left; the final-try guard).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pki-variants.sh"
export LC_ALL=C.UTF-8  # ${#label} counts characters in jrow below
cases=(normal-en normal-ja unknown-issuer renewal-en renewal-ja renewal-month-end expired-en expired-ja
       auth-one-try-en auth-one-try-ja sign-one-try-en sign-one-try-ja locked-en locked-ja
       no-sign-cert-en no-sign-cert-ja no-reader-en no-reader-ja no-pcscd-en no-pcscd-ja
       json json-attention json-sign sign-en sign-ja sign-malformed sign-wrong-en sign-wrong-ja
       sign-last-try-refused renewal-sign reader-option help-en help-ja colour
       expires-today-en expires-today-ja json-no-reader json-no-pcscd json-sign-wrong)
[ "${1:-}" = --list ] && { printf '%s\n' "${cases[@]}"; exit 0; }

# One scratch folder for the outer run and the case it runs inside with-vcard.sh (the trace file).
if [ -z "${JPKI_TEST_SCRATCH:-}" ]; then
    JPKI_TEST_SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/jpki-test-status.XXXXXX")
    trap 'rm -rf "$JPKI_TEST_SCRATCH"' EXIT
    export JPKI_TEST_SCRATCH
    test_ca_dir "$JPKI_TEST_SCRATCH/ca"
fi
scratch=$JPKI_TEST_SCRATCH
export JPKI_CA_DIR=$scratch/ca

# An English row: label padded to the widest label ("Authentication PIN", 18 columns).
row() { printf '    %-18s  %s' "$1" "$2"; }
# A Japanese row: every label character is 2 columns wide; the widest label is 22 columns.
jrow() { printf '    %s%*s  %s' "$1" $((22 - 2 * ${#1})) '' "$2"; }

# The default test certificates end 2029-07-14 (23:59:59 JST).
days_until() { echo $(( ($(TZ=UTC date -d "$1" +%s) - $(TZ=UTC date -d "$(japan_today)" +%s)) / 86400 )); }
ja_date() { local y m d; IFS=- read -r y m d <<<"$1"; echo "${y}年$((10#$m))月$((10#$d))日"; }
default_days=$(days_until 2029-07-14)

# Runs this script's case "@NAME" inside with-vcard.sh with the given jpki-vcard options.
in_vcard() {
    local name=$1; shift
    bash "$WITH_VCARD" "$@" -- bash "$0" "@$name"
}

expect_normal_auth_en() {
    expect_line out "Reader: Virtual PCD 00 00"
    expect_line out "  My Number Card (JPKIAPICCTOKEN2)"
    expect_line out "  Authentication certificate"
    expect_line out "$(row Subject 'CN=20250301AUTH0JPKITEST0000001A,C=JP')"
    expect_line out "$(row Issuer 'J-LIS, generation test (auth_ca_test.pem)')"
    expect_line out "$(row 'Serial number' 2F792996A3018F00)"
    expect_line out "$(row 'Valid from' 2025-03-01)"
}

case ${1:?case} in
# ---- outside the card (run with with-vcard.sh) ----
normal-en|normal-ja|unknown-issuer|auth-one-try-en|auth-one-try-ja|no-reader-en|no-reader-ja|no-pcscd-en|no-pcscd-ja|json|json-sign|sign-en|sign-ja|sign-wrong-en|sign-wrong-ja)
    opts=()
    case $1 in auth-one-try-*) opts=(--auth-tries 1) ;; esac
    case $1 in sign-*|json-sign) opts=(--trace "$scratch/trace") ;; esac
    in_vcard "$1" "${opts[@]}" ;;
renewal-en|renewal-ja)
    pki_expiring_on "$scratch/pki" "$(japan_days_from_today 30)" || exit 1
    in_vcard "$1" --pki-dir "$scratch/pki" ;;
renewal-sign)
    pki_expiring_on "$scratch/pki" "$(japan_days_from_today 30)" || exit 1
    in_vcard "$1" --pki-dir "$scratch/pki" ;;
reader-option|colour|json-no-reader|json-no-pcscd|json-sign-wrong) in_vcard "$1" ;;
expires-today-en|expires-today-ja)
    pki_expiring_on "$scratch/pki" "$(japan_today)" || exit 1
    in_vcard "$1" --pki-dir "$scratch/pki" ;;
help-en)
    run_jpki en status --help; expect_rc 0
    expect_line out "Usage: jpki status [--reader NAME] [--json] [--sign]"
    expect_line out "  --json         the same facts as JSON (for scripts)" ;;
help-ja)
    run_jpki ja status --help; expect_rc 0
    expect_line out "使い方: jpki status [--reader 名前] [--json] [--sign]"
    expect_line out "  --json         同じ内容を JSON で出力します（スクリプト向け）" ;;
renewal-month-end)
    pki_expiring_on "$scratch/pki" 2031-05-31 || exit 1
    in_vcard "$1" --pki-dir "$scratch/pki" ;;
expired-en|expired-ja)
    pki_expiring_on "$scratch/pki" "$(japan_days_from_today -10)" || exit 1
    in_vcard "$1" --pki-dir "$scratch/pki" ;;
sign-one-try-en|sign-one-try-ja) in_vcard "$1" --sign-tries 1 ;;
locked-en|locked-ja) in_vcard "$1" --auth-tries 0 --sign-tries 0 ;;
no-sign-cert-en|no-sign-cert-ja) in_vcard "$1" --no-sign-cert ;;
json-attention) in_vcard "$1" --auth-tries 1 ;;
sign-malformed) in_vcard "$1" --trace "$scratch/trace" ;;
sign-last-try-refused) in_vcard "$1" --sign-tries 1 --trace "$scratch/trace" ;;

# ---- inside with-vcard.sh ----
@normal-en)
    run_jpki en status; expect_rc 0
    expect_normal_auth_en
    expect_line out "$(row 'Valid until' "2029-07-14 ($default_days days left)")"
    expect_line out "$(row Renewal 'from 2029-04-14')"
    expect_line out "  Signing certificate"
    expect_line out "$(row 'On the card' 'yes (shown with --sign: reading it needs the signature password)')"
    expect_line out "  PINs (tries left)"
    expect_line out "$(row 'Authentication PIN' '3 tries left (of 3)')"
    expect_line out "$(row 'Signature password' '5 tries left (of 5)')"
    expect_line out "Reader: Virtual PCD 00 01"
    expect_line out "  no card"
    expect_no_text out "Attention" ;;
@normal-ja)
    run_jpki ja status; expect_rc 0
    expect_line out "カードリーダー: Virtual PCD 00 00"
    expect_line out "  マイナンバーカード（JPKIAPICCTOKEN2）"
    expect_line out "  利用者証明用電子証明書"
    expect_line out "$(jrow 発行先 'CN=20250301AUTH0JPKITEST0000001A,C=JP')"
    expect_line out "$(jrow 発行者 'J-LIS（世代: test、auth_ca_test.pem）')"
    expect_line out "$(jrow シリアル番号 2F792996A3018F00)"
    expect_line out "$(jrow 有効期間の開始 2025年3月1日)"
    expect_line out "$(jrow 有効期限 "2029年7月14日（残り${default_days}日）")"
    expect_line out "$(jrow 更新 2029年4月14日から)"
    expect_line out "  署名用電子証明書"
    expect_line out "$(jrow 搭載 'あり（読み取りには署名用の暗証番号が必要です。--sign で表示します）')"
    expect_line out "  暗証番号（残り回数）"
    expect_line out "$(jrow 利用者証明用の暗証番号 残り3回（最大3回）)"
    expect_line out "$(jrow 署名用の暗証番号 残り5回（最大5回）)"
    expect_line out "カードリーダー: Virtual PCD 00 01"
    expect_line out "  カードなし"
    expect_no_text out "注意" ;;
@unknown-issuer)
    # The shipped J-LIS CAs did not issue the test certificates.
    JPKI_CA_DIR= run_jpki en status; expect_rc 0
    expect_line out "$(row Issuer 'unknown issuer')"
    # Not a warning (exit code 0), an information line: most likely a test card.
    shipped=$build/share/jpki-pkcs11/jpki-ca
    JPKI_CA_DIR= run_jpki en status; expect_rc 0
    expect_line out "  Note"
    expect_line out "    i The authentication certificate was not issued by any J-LIS CA certificate in $shipped: perhaps a test card, or the CA files are missing."
    JPKI_CA_DIR= run_jpki ja status; expect_rc 0
    expect_line out "$(jrow 発行者 不明な発行者)"
    expect_line out "    i 利用者証明用電子証明書は $shipped のどのJ-LISのCA証明書からも発行されていません。テスト用のカードか、CA証明書のファイルがない可能性があります。" ;;
@expires-today-en)
    # Issue 8: the last day read "(0 days left)".
    day=$(japan_today)
    run_jpki en status; expect_rc 6
    expect_line out "$(row 'Valid until' "$day (expires today)")"
    expect_line out "    ! The authentication certificate expires today ($day). You can renew it now at your city office (bring the card and an identity document)." ;;
@expires-today-ja)
    day=$(japan_today)
    run_jpki ja status; expect_rc 6
    expect_line out "$(jrow 有効期限 "$(ja_date "$day")（本日まで）")"
    expect_line out "    ! 利用者証明用電子証明書の有効期限は本日（$(ja_date "$day")）までです。市区町村の窓口で今すぐ更新できます（カードと本人確認書類をお持ちください）。" ;;
@json-no-reader)
    # Issue 8: --json printed nothing on failure; scripts always get a JSON object now.
    "$WITH_VCARD_CTL" stop-pcscd >/dev/null && "$WITH_VCARD_CTL" start-pcscd --no-reader >/dev/null || fail "ctl"
    run_jpki en status --json; expect_rc 3
    /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["error"]["code"] == 3, j
assert j["error"]["message"].startswith("No smart card reader found."), j
assert j["readers"] == [], j' <<<"$out" || fail "json: $out" ;;
@json-no-pcscd)
    "$WITH_VCARD_CTL" stop-pcscd >/dev/null || fail "ctl"
    run_jpki ja status --json; expect_rc 3
    /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["error"] == {"code": 3, "message": sys.argv[1]}, j' "$err" <<<"$out" || fail "json: $out" ;;
@json-sign-wrong)
    en "$JPKI" status --json --sign <<<"WRONG1" >"$WITH_VCARD_DIR/out" 2>"$WITH_VCARD_DIR/err"; rc=$?
    out=$(cat "$WITH_VCARD_DIR/out") err=$(cat "$WITH_VCARD_DIR/err"); expect_rc 4
    expect_line err "Wrong signature password. 4 tries left before it locks."
    /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["error"] == {"code": 4, "message": "Wrong signature password. 4 tries left before it locks."}, j
c = j["readers"][0]["card"]
assert c["pins"]["sign"]["tries_left"] == 4, c
assert c["certificates"]["auth"]["read"] and not c["certificates"]["sign"]["read"], c' <<<"$out" || fail "json: $out" ;;
@renewal-en)
    day=$(japan_days_from_today 30)
    run_jpki en status; expect_rc 6
    expect_line out "$(row 'Valid until' "$day (30 days left)")"
    expect_line out "$(row Renewal "open since $(renewal_from "$day"): renew at your city office")"
    expect_line out "  Attention"
    expect_line out "    ! The authentication certificate expires on $day (30 days left). You can renew it now at your city office (bring the card and an identity document)." ;;
@renewal-ja)
    day=$(japan_days_from_today 30)
    run_jpki ja status; expect_rc 6
    expect_line out "$(jrow 有効期限 "$(ja_date "$day")（残り30日）")"
    expect_line out "$(jrow 更新 "$(ja_date "$(renewal_from "$day")")から更新できます。市区町村の窓口で手続きしてください")"
    expect_line out "  注意"
    expect_line out "    ! 利用者証明用電子証明書の有効期限は$(ja_date "$day")です（残り30日）。市区町村の窓口で更新の手続きができます（カードと本人確認書類をお持ちください）。" ;;
@renewal-sign)
    # The signing certificate's warnings, with the note that it also ends on a change of name or address.
    day=$(japan_days_from_today 30)
    with_input() { "$1" "$JPKI" status --sign <<<"ABC123" >"$WITH_VCARD_DIR/out" 2>"$WITH_VCARD_DIR/err"; rc=$?
                   out=$(cat "$WITH_VCARD_DIR/out") err=$(cat "$WITH_VCARD_DIR/err"); }
    with_input en; expect_rc 6
    expect_line out "    ! The signing certificate expires on $day (30 days left). You can renew it now at your city office (bring the card and an identity document)."
    expect_line out "    ! The signing certificate also ends when your name or address changes (moving, marriage); the city office issues a new one then."
    with_input ja; expect_rc 6
    expect_line out "    ! 署名用電子証明書の有効期限は$(ja_date "$day")です（残り30日）。市区町村の窓口で更新の手続きができます（カードと本人確認書類をお持ちください）。"
    expect_line out "    ! 署名用電子証明書は、引っ越しや結婚などで氏名・住所が変わったときにも失効します。そのときは市区町村の窓口で新しく発行を受けてください。" ;;
@colour)
    # Colour on a terminal only: a pseudo-terminal (script(1)) gets it, a pipe does not.
    env -u NO_COLOR TERM=xterm script -qec "'$JPKI' status" /dev/null </dev/null >"$WITH_VCARD_DIR/tty"
    grep -q $'\e\[1mAuthentication certificate\e\[0m' "$WITH_VCARD_DIR/tty" || fail "no colour on a terminal: $(cat -v "$WITH_VCARD_DIR/tty")"
    env -u NO_COLOR TERM=xterm "$JPKI" status >"$WITH_VCARD_DIR/pipe"
    ! grep -q $'\e' "$WITH_VCARD_DIR/pipe" || fail "colour in a pipe: $(cat -v "$WITH_VCARD_DIR/pipe")" ;;
@reader-option)
    run_jpki en status --reader "$JPKI_VCARD_READER"; expect_rc 0
    expect_line out "Reader: $JPKI_VCARD_READER"
    expect_no_text out "Virtual PCD 00 01"
    run_jpki en status --reader "No Such Reader"; expect_rc 3
    expect_line err "No reader named 'No Such Reader'. Readers:"
    run_jpki ja status --reader "No Such Reader"; expect_rc 3
    expect_line err "'No Such Reader' という名前のカードリーダーはありません。カードリーダー:" ;;
@renewal-month-end)
    # Three calendar months before 31 May is 28 February (no 31 February): the window's rule.
    run_jpki en status; expect_rc 0
    expect_line out "$(row Renewal 'from 2031-02-28')"
    run_jpki ja status; expect_rc 0
    expect_line out "$(jrow 更新 2031年2月28日から)" ;;
@expired-en)
    day=$(japan_days_from_today -10)
    run_jpki en status; expect_rc 6
    expect_line out "$(row 'Valid until' "$day (expired)")"
    expect_line out "    ! The authentication certificate expired on $day. Renew it at your city office (bring the card and an identity document)." ;;
@expired-ja)
    day=$(japan_days_from_today -10)
    run_jpki ja status; expect_rc 6
    expect_line out "$(jrow 有効期限 "$(ja_date "$day")（期限切れ）")"
    expect_line out "    ! 利用者証明用電子証明書の有効期限は$(ja_date "$day")に切れています。市区町村の窓口で更新してください（カードと本人確認書類をお持ちください）。" ;;
@auth-one-try-en)
    run_jpki en status; expect_rc 6
    expect_line out "$(row 'Authentication PIN' '1 try left (of 3)')"
    expect_line out "    ! The authentication PIN has 1 try left: one more wrong entry locks it. Do not guess. If you are sure of it, 'jpki pin verify auth' is the deliberate way to enter it; if you have forgotten it, your city office can reset it (bring the card and an identity document)." ;;
@auth-one-try-ja)
    run_jpki ja status; expect_rc 6
    expect_line out "$(jrow 利用者証明用の暗証番号 残り1回（最大3回）)"
    expect_line out "    ! 利用者証明用の暗証番号の残り回数は1回です。次に間違えるとロックされます。推測で入力しないでください。確実に分かっている場合は 'jpki pin verify auth' で確認のうえ入力できます。忘れた場合は市区町村の窓口で再設定できます（カードと本人確認書類をお持ちください）。" ;;
@sign-one-try-en)
    run_jpki en status; expect_rc 6
    expect_line out "$(row 'Signature password' '1 try left (of 5)')"
    expect_line out "    ! The signature password has 1 try left: one more wrong entry locks it. Do not guess. If you are sure of it, 'jpki pin verify sign' is the deliberate way to enter it; if you have forgotten it, your city office can reset it (bring the card and an identity document)." ;;
@sign-one-try-ja)
    run_jpki ja status; expect_rc 6
    expect_line out "$(jrow 署名用の暗証番号 残り1回（最大5回）)"
    expect_line out "    ! 署名用の暗証番号の残り回数は1回です。次に間違えるとロックされます。推測で入力しないでください。確実に分かっている場合は 'jpki pin verify sign' で確認のうえ入力できます。忘れた場合は市区町村の窓口で再設定できます（カードと本人確認書類をお持ちください）。" ;;
@locked-en)
    run_jpki en status; expect_rc 6
    expect_line out "$(row 'Authentication PIN' 'locked (0 tries left)')"
    expect_line out "$(row 'Signature password' 'locked (0 tries left)')"
    expect_line out "    ! The authentication PIN is locked. Only your city office can unlock it: bring the card and an identity document."
    expect_line out "    ! The signature password is locked. Only your city office can unlock it: bring the card and an identity document." ;;
@locked-ja)
    run_jpki ja status; expect_rc 6
    expect_line out "$(jrow 利用者証明用の暗証番号 ロック中（残り0回）)"
    expect_line out "$(jrow 署名用の暗証番号 ロック中（残り0回）)"
    expect_line out "    ! 利用者証明用の暗証番号はロックされています。解除は市区町村の窓口でのみできます。カードと本人確認書類を持って行ってください。"
    expect_line out "    ! 署名用の暗証番号はロックされています。解除は市区町村の窓口でのみできます。カードと本人確認書類を持って行ってください。" ;;
@no-sign-cert-en)
    run_jpki en status; expect_rc 0
    expect_line out "$(row 'On the card' 'no (cards issued to children under 15 have none)')"
    expect_line out "$(row 'Signature password' 'none (this card has no signing certificate)')"
    expect_line out "$(row 'Authentication PIN' '3 tries left (of 3)')" ;;
@no-sign-cert-ja)
    run_jpki ja status; expect_rc 0
    expect_line out "$(jrow 搭載 'なし（15歳未満の方のカードには搭載されません）')"
    expect_line out "$(jrow 署名用の暗証番号 'なし（このカードには署名用電子証明書がありません）')" ;;
@no-reader-en|@no-reader-ja)
    "$WITH_VCARD_CTL" stop-pcscd >/dev/null && "$WITH_VCARD_CTL" start-pcscd --no-reader >/dev/null || fail "ctl"
    if [ "$1" = @no-reader-en ]; then
        run_jpki en status; expect_rc 3
        expect_line err "No smart card reader found. Connect the reader (for a USB reader: plug it in, then check \`lsusb\`); \`jpki doctor\` shows what pcscd sees."
    else
        run_jpki ja status; expect_rc 3
        expect_line err "カードリーダーが見つかりません。カードリーダーを接続してください（USB の場合は差し込んでから \`lsusb\` で確認）。\`jpki doctor\` で pcscd から見える状態を確認できます。"
    fi
    [ -z "$out" ] || fail "stdout not empty: $out" ;;
@no-pcscd-en|@no-pcscd-ja)
    "$WITH_VCARD_CTL" stop-pcscd >/dev/null || fail "ctl"
    if [ "$1" = @no-pcscd-en ]; then
        run_jpki en status; expect_rc 3
        expect_line err "The smart card service (pcscd) is not running."
    else
        run_jpki ja status; expect_rc 3
        expect_line err "スマートカードサービス（pcscd）が動いていません。"
    fi ;;
@json)
    run_jpki ja status --json; expect_rc 0
    /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
r = j["readers"][0]
assert r["name"] == "Virtual PCD 00 00" and r["card_present"] and r["my_number_card"], r
c = r["card"]
assert c["label"] == "JPKIAPICCTOKEN2"
a = c["certificates"]["auth"]
assert a["present"] and a["read"] and a["subject"] == "CN=20250301AUTH0JPKITEST0000001A,C=JP", a
assert a["issuer"] == {"generation": "test", "file": "auth_ca_test.pem"}, a
assert a["serial"] == "2F792996A3018F00" and a["not_before"] == "2025-03-01" and a["not_after"] == "2029-07-14", a
assert a["days_left"] == int(sys.argv[1]) and a["renewal_from"] == "2029-04-14", a
assert a["renewal_open"] is False and a["expired"] is False, a
assert c["certificates"]["sign"] == {"present": True, "read": False}, c
assert c["pins"] == {"auth": {"tries_left": 3, "max_tries": 3, "locked": False},
                     "sign": {"tries_left": 5, "max_tries": 5, "locked": False}}, c
assert c["warnings"] == [] and j["attention"] is False, j
assert j["readers"][1] == {"name": "Virtual PCD 00 01", "card_present": False, "my_number_card": False}, j
' "$default_days" <<<"$out" || fail "json: $out" ;;
@json-attention)
    run_jpki en status --json; expect_rc 6
    /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["attention"] is True, j
c = j["readers"][0]["card"]
assert c["warnings"] == ["auth-pin-one-try-left"], c
assert c["pins"]["auth"] == {"tries_left": 1, "max_tries": 3, "locked": False}, c' <<<"$out" || fail "json: $out" ;;
@json-sign)
    en "$JPKI" status --json --sign <<<"ABC123" >"$WITH_VCARD_DIR/out" 2>"$WITH_VCARD_DIR/err"; rc=$?
    out=$(cat "$WITH_VCARD_DIR/out") err=$(cat "$WITH_VCARD_DIR/err"); expect_rc 0
    /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)["readers"][0]["card"]["certificates"]["sign"]
assert s["read"] and s["issuer"]["file"] == "sign_ca_test.pem", s
assert s["holder"] == {"name": "山田 花子", "address": "東京都架空区試験町一丁目2番3号",
                       "birth_date": "1985-07-14", "sex": "female"}, s' <<<"$out" || fail "json: $out" ;;
@sign-en|@sign-ja)
    if [ "$1" = @sign-en ]; then
        en "$JPKI" status --sign <<<"ABC123" >"$WITH_VCARD_DIR/out" 2>"$WITH_VCARD_DIR/err"; rc=$?
        out=$(cat "$WITH_VCARD_DIR/out") err=$(cat "$WITH_VCARD_DIR/err"); expect_rc 0
        expect_line out "$(row Subject 'CN=20250301SIGN0JPKITEST0000001S,L=Kakuu-ku,L=Tokyo-to,C=JP')"
        expect_line out "$(row Issuer 'J-LIS, generation test (sign_ca_test.pem)')"
        expect_line out "$(row Name '山田 花子')"
        expect_line out "$(row Address '東京都架空区試験町一丁目2番3号')"
        expect_line out "$(row 'Date of birth' 1985-07-14)"
        expect_line out "$(row Sex female)"
    else
        ja "$JPKI" status --sign <<<"ABC123" >"$WITH_VCARD_DIR/out" 2>"$WITH_VCARD_DIR/err"; rc=$?
        out=$(cat "$WITH_VCARD_DIR/out") err=$(cat "$WITH_VCARD_DIR/err"); expect_rc 0
        expect_line out "$(jrow 発行者 'J-LIS（世代: test、sign_ca_test.pem）')"
        expect_line out "$(jrow 氏名 '山田 花子')"
        expect_line out "$(jrow 住所 '東京都架空区試験町一丁目2番3号')"
        expect_line out "$(jrow 生年月日 '1985年7月14日（昭和60年）')"
        expect_line out "$(jrow 性別 女性)"
    fi
    # The card was reset after the password went out: nobody can use the verified password.
    trace=$(cat "$scratch/trace")
    last_verify=$(grep -n '^0020008006' <<<"$trace" | tail -1 | cut -d: -f1)
    [ -n "$last_verify" ] || fail "no VERIFY with the password in the trace"
    tail -n +"$last_verify" <<<"$trace" | grep -qx '# reset' || fail "no reset after the VERIFY:
$trace" ;;
@sign-malformed)
    for lang in en ja; do
        "$lang" "$JPKI" status --sign <<<"AB" >"$WITH_VCARD_DIR/out" 2>"$WITH_VCARD_DIR/err"; rc=$?
        out=$(cat "$WITH_VCARD_DIR/out") err=$(cat "$WITH_VCARD_DIR/err"); expect_rc 2
    done
    expect_line err "署名用の暗証番号は英大文字（A-Z）と数字の6～16文字です。カードには何も送っていません。"
    ! grep -q '^0020008.0[0-9A-F]' "$scratch/trace" || fail "a VERIFY with data went out: $(cat "$scratch/trace")" ;;
@sign-wrong-en)
    en "$JPKI" status --sign <<<"WRONG1" >"$WITH_VCARD_DIR/out" 2>"$WITH_VCARD_DIR/err"; rc=$?
    out=$(cat "$WITH_VCARD_DIR/out") err=$(cat "$WITH_VCARD_DIR/err"); expect_rc 4
    expect_line err "Wrong signature password. 4 tries left before it locks." ;;
@sign-wrong-ja)
    ja "$JPKI" status --sign <<<"WRONG1" >"$WITH_VCARD_DIR/out" 2>"$WITH_VCARD_DIR/err"; rc=$?
    out=$(cat "$WITH_VCARD_DIR/out") err=$(cat "$WITH_VCARD_DIR/err"); expect_rc 4
    expect_line err "署名用の暗証番号が違います。ロックされるまで残り4回です。" ;;
@sign-last-try-refused)
    # At 1 try left --sign asks nothing and sends nothing; the rest of the status is shown.
    en "$JPKI" status --sign <<<"ABC123" >"$WITH_VCARD_DIR/out" 2>"$WITH_VCARD_DIR/err"; rc=$?
    out=$(cat "$WITH_VCARD_DIR/out") err=$(cat "$WITH_VCARD_DIR/err"); expect_rc 5
    expect_line out "$(row 'Signature password' '1 try left (of 5)')"
    expect_line err "The signature password has only 1 try left, so nothing was sent to the card: a wrong entry would lock it. If you are sure of it, use 'jpki pin verify sign'."
    ! grep -q '^0020008.0[0-9A-F]' "$scratch/trace" || fail "a VERIFY with data went out" ;;
*) fail "unknown case $1" ;;
esac
