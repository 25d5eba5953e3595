#!/usr/bin/env bash
# `jpki cert export|verify` against the virtual card behind a private pcscd (with-vcard.sh), in
# English and Japanese: exports equal the test PKI's files; DER is refused on a terminal; verify
# passes against the test CAs (named as the J-LIS files are), fails with exit code 7 against the
# shipped J-LIS CAs and for an expired certificate, and says that revocation was not checked.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pki-variants.sh"
cases=(export-pem export-der-file-en export-der-file-ja export-sign export-der-terminal-en
       export-der-terminal-ja export-no-sign-cert-en export-no-sign-cert-ja export-bad-name-en
       export-bad-name-ja verify-test-cas-en verify-test-cas-ja verify-shipped-cas-en
       verify-shipped-cas-ja verify-sign verify-expired-en verify-expired-ja verify-no-sign-cert help-en help-ja
       export-exists-en export-exists-ja export-force-symlink export-modes export-no-folder-en
       export-no-folder-ja export-directory-en export-empty-o verify-no-ca-files-en verify-no-ca-files-ja
       export-stdout-full)
[ "${1:-}" = --list ] && { printf '%s\n' "${cases[@]}"; exit 0; }

# One scratch folder for the outer run and the case it runs inside with-vcard.sh.
if [ -z "${JPKI_TEST_SCRATCH:-}" ]; then
    JPKI_TEST_SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/jpki-test-cert.XXXXXX")
    trap 'rm -rf "$JPKI_TEST_SCRATCH"' EXIT
    export JPKI_TEST_SCRATCH
    test_ca_dir "$JPKI_TEST_SCRATCH/ca"
fi
scratch=$JPKI_TEST_SCRATCH
pki=$repo/tests/pki
shipped_ca_dir=$build/share/jpki-pkcs11/jpki-ca

in_vcard() {
    local name=$1; shift
    bash "$WITH_VCARD" "$@" -- bash "$0" "@$name"
}
# with_input LANG INPUT ARGS...: like run_jpki, with INPUT as standard input.
with_input() {
    local lang=$1 input=$2; shift 2
    "$lang" "$JPKI" "$@" <<<"$input" >"$scratch/out" 2>"$scratch/err"; rc=$?
    out=$(cat "$scratch/out") err=$(cat "$scratch/err")
}
expect_no_pin_sent() {
    ! grep -qE '^(002000[0-9A-F]{2}[0-9A-F]{2}\*|0024)' "$scratch/trace" || fail "a PIN went to the card:
$(cat "$scratch/trace")"
}
expect_reset_after_verify() {
    local trace last_verify
    trace=$(cat "$scratch/trace")
    last_verify=$(grep -n '^0020008006' <<<"$trace" | tail -1 | cut -d: -f1)
    [ -n "$last_verify" ] || fail "no VERIFY with the password in the trace"
    tail -n +"$last_verify" <<<"$trace" | grep -qx '# reset' || fail "no reset after the VERIFY:
$trace"
}

case ${1:?case} in
# ---- outside the card ----
export-pem|export-der-file-en|export-der-file-ja|verify-shipped-cas-en|verify-shipped-cas-ja)
    in_vcard "$1" ;;
verify-test-cas-en|verify-test-cas-ja) in_vcard "$1" ;;
export-sign|verify-sign|export-no-folder-*|export-exists-*|export-directory-en) in_vcard "$1" --trace "$scratch/trace" ;;
export-force-symlink|export-modes|verify-no-ca-files-*|export-stdout-full) in_vcard "$1" ;;
export-empty-o)
    run_jpki en cert export auth -o ''; expect_rc 2
    expect_text err "-o needs a file name" ;;
export-no-sign-cert-en|export-no-sign-cert-ja|verify-no-sign-cert) in_vcard "$1" --no-sign-cert ;;
verify-expired-en|verify-expired-ja)
    pki_expiring_on "$scratch/pki" "$(japan_days_from_today -10)" || exit 1
    in_vcard "$1" --pki-dir "$scratch/pki" ;;
export-der-terminal-en|export-der-terminal-ja)
    # Standard output is a terminal (script(1) gives the command a pseudo-terminal). Refused
    # before any card access: no pcscd is needed.
    lang=${1##*-}
    script -qec "$(declare -f en ja); $lang '$JPKI' cert export auth --der" /dev/null </dev/null >"$scratch/tty"; rc=$?
    out=$(tr -d '\r' <"$scratch/tty")
    err=$out
    expect_rc 2
    if [ "$lang" = en ]; then
        expect_line out "Refusing to write DER (binary) to the terminal: use -o FILE, redirect the output, or use --pem."
    else
        expect_line out "DER（バイナリ）は端末に出力しません。-o ファイル を指定するか、出力をリダイレクトするか、--pem を使ってください。"
    fi ;;
help-en)
    run_jpki en cert --help; expect_rc 0
    expect_line out "Usage: jpki cert export auth|sign|auth-ca|sign-ca [--pem|--der] [-o FILE [--force]] [--reader NAME]"
    expect_line out "        Offline: revocation is not checked. Exit code 7 when something does not verify." ;;
help-ja)
    run_jpki ja cert --help; expect_rc 0
    expect_line out "使い方: jpki cert export auth|sign|auth-ca|sign-ca [--pem|--der] [-o ファイル [--force]] [--reader 名前]"
    expect_line out "        オフラインで確認するため、失効は確認しません。検証に失敗したときは終了コード 7 です。" ;;
export-bad-name-en)
    run_jpki en cert export root; expect_rc 2
    expect_line err "jpki cert: unknown certificate 'root' (one of: auth, sign, auth-ca, sign-ca)" ;;
export-bad-name-ja)
    run_jpki ja cert export root; expect_rc 2
    expect_line err "jpki cert: 'root' という証明書はありません（auth、sign、auth-ca、sign-ca のいずれかです）" ;;

# ---- inside with-vcard.sh ----
@export-pem)
    en "$JPKI" cert export auth >"$scratch/auth.pem" || fail "export auth"
    cmp "$scratch/auth.pem" "$pki/auth-cert.pem" || fail "auth export differs from tests/pki/auth-cert.pem"
    en "$JPKI" cert export auth-ca --pem >"$scratch/auth-ca.pem" || fail "export auth-ca"
    cmp "$scratch/auth-ca.pem" "$pki/auth-ca.pem" || fail "auth-ca export differs"
    en "$JPKI" cert export sign-ca >"$scratch/sign-ca.pem" || fail "export sign-ca"
    cmp "$scratch/sign-ca.pem" "$pki/sign-ca.pem" || fail "sign-ca export differs" ;;
@export-der-file-en)
    run_jpki en cert export auth --der -o "$scratch/auth.der"; expect_rc 0
    expect_line err "Wrote $scratch/auth.der."
    cmp "$scratch/auth.der" "$pki/auth-cert.der" || fail "DER export differs" ;;
@export-der-file-ja)
    run_jpki ja cert export sign-ca --der -o "$scratch/sign-ca.der"; expect_rc 0
    expect_line err "$scratch/sign-ca.der に書き出しました。"
    cmp "$scratch/sign-ca.der" "$pki/sign-ca.der" || fail "DER export differs" ;;
@export-sign)
    with_input en ABC123 cert export sign; expect_rc 0
    [ "$out" = "$(cat "$pki/sign-cert.pem")" ] || fail "sign export differs: $out"
    expect_reset_after_verify ;;
@export-exists-en)
    # Issue 8: -o overwrote anything. Refused before the card is asked for the password.
    : >"$scratch/sign.pem"
    with_input en ABC123 cert export sign -o "$scratch/sign.pem"; expect_rc 1
    expect_line err "$scratch/sign.pem already exists; nothing was written. Use --force to replace it."
    [ ! -s "$scratch/sign.pem" ] || fail "the existing file was overwritten"
    expect_no_pin_sent ;;
@export-exists-ja)
    : >"$scratch/auth.pem"
    run_jpki ja cert export auth -o "$scratch/auth.pem"; expect_rc 1
    expect_line err "$scratch/auth.pem は既にあります。書き出していません。置き換える場合は --force を指定してください。" ;;
@export-force-symlink)
    # --force replaces the name (the symbolic link itself), never writes through it.
    ln -s "$scratch/target.pem" "$scratch/link.pem"
    run_jpki en cert export auth -o "$scratch/link.pem" --force; expect_rc 0
    [ ! -L "$scratch/link.pem" ] || fail "the symbolic link is still there"
    [ ! -e "$scratch/target.pem" ] || fail "written through the symbolic link"
    cmp "$scratch/link.pem" "$pki/auth-cert.pem" || fail "auth export differs" ;;
@export-modes)
    # The signing certificate holds personal data: 0600 whatever the umask; the others 0666-umask.
    umask 022
    with_input en ABC123 cert export sign -o "$scratch/sign.pem"; expect_rc 0
    [ "$(stat -c %a "$scratch/sign.pem")" = 600 ] || fail "sign.pem mode $(stat -c %a "$scratch/sign.pem")"
    cmp "$scratch/sign.pem" "$pki/sign-cert.pem" || fail "sign export differs"
    run_jpki en cert export auth -o "$scratch/auth.pem"; expect_rc 0
    [ "$(stat -c %a "$scratch/auth.pem")" = 644 ] || fail "auth.pem mode $(stat -c %a "$scratch/auth.pem")" ;;
@export-no-folder-en)
    with_input en ABC123 cert export sign -o "$scratch/missing/sign.pem"; expect_rc 1
    expect_line err "Cannot write $scratch/missing/sign.pem: No such file or directory"
    expect_no_pin_sent ;;
@export-no-folder-ja)
    with_input ja ABC123 cert export sign -o "$scratch/missing/sign.pem"; expect_rc 1
    expect_line err "$scratch/missing/sign.pem に書き込めません: そのようなファイルやディレクトリはありません"
    expect_no_pin_sent ;;
@export-directory-en)
    mkdir "$scratch/folder"
    with_input en ABC123 cert export sign --force -o "$scratch/folder"; expect_rc 1
    expect_line err "Cannot write $scratch/folder: Is a directory"
    expect_no_pin_sent ;;
@verify-no-ca-files-en)
    mkdir -p "$scratch/misnamed" && cp "$pki/auth-ca.pem" "$scratch/misnamed/auth-ca.pem"
    JPKI_CA_DIR=$scratch/misnamed run_jpki en cert verify; expect_rc 1
    expect_line err "No CA certificates named auth_ca_*.pem or sign_ca_*.pem in $scratch/misnamed." ;;
@verify-no-ca-files-ja)
    mkdir -p "$scratch/misnamed"
    JPKI_CA_DIR=$scratch/misnamed run_jpki ja cert verify; expect_rc 1
    expect_line err "$scratch/misnamed に auth_ca_*.pem または sign_ca_*.pem という名前のCA証明書がありません。" ;;
@export-stdout-full)
    # The reason is given (issue 8: "Could not write X." said nothing of why).
    en "$JPKI" cert export auth-ca >/dev/full 2>"$scratch/err"; rc=$?; out='' err=$(cat "$scratch/err")
    expect_rc 1
    expect_line err "Could not write to standard output: No space left on device"
    ja "$JPKI" cert export auth-ca >/dev/full 2>"$scratch/err"; rc=$?; err=$(cat "$scratch/err")
    expect_rc 1
    expect_line err "標準出力に書き込めませんでした: デバイスに空き領域がありません" ;;
@export-no-sign-cert-en)
    run_jpki en cert export sign; expect_rc 1
    expect_line err "This card has no signing certificate (cards issued to children under 15 have none)." ;;
@export-no-sign-cert-ja)
    run_jpki ja cert export sign; expect_rc 1
    expect_line err "このカードには署名用電子証明書がありません（15歳未満の方のカードには搭載されません）。" ;;
@verify-test-cas-en)
    JPKI_CA_DIR=$scratch/ca run_jpki en cert verify; expect_rc 0
    [ "$out" = "Authentication certificate
  ok      issued by J-LIS, generation test (auth_ca_test.pem): the signature verifies
  ok      valid now: 2025-03-01 to 2029-07-14
  ok      the CA certificate is valid now: 2023-01-01 to 2043-01-01
  ok      the CA certificate on the card is auth_ca_test.pem
Signing certificate
  --      not checked: reading it needs the signature password (jpki cert verify --sign)
  ok      the CA certificate on the card is sign_ca_test.pem
Checked offline: revocation is not checked.
Result: verifies." ] || fail "output:
$out" ;;
@verify-test-cas-ja)
    JPKI_CA_DIR=$scratch/ca run_jpki ja cert verify; expect_rc 0
    [ "$out" = "利用者証明用電子証明書
  OK  発行者: J-LIS（世代: test、auth_ca_test.pem）（署名を確認しました）
  OK  現在有効です: 2025年3月1日～2029年7月14日
  OK  CA証明書は現在有効です: 2023年1月1日～2043年1月1日
  OK  カード内のCA証明書は auth_ca_test.pem と同じです
署名用電子証明書
  --  確認していません: 読み取りには署名用の暗証番号が必要です（jpki cert verify --sign）
  OK  カード内のCA証明書は sign_ca_test.pem と同じです
オフラインで確認しました: 失効しているかどうかは確認していません。
結果: 検証に成功しました。" ] || fail "output:
$out" ;;
@verify-shipped-cas-en)
    # The test certificates were not issued by any real J-LIS CA.
    run_jpki en cert verify; expect_rc 7
    [ "$out" = "Authentication certificate
  FAILED  not issued by any of the J-LIS CA certificates in $shipped_ca_dir
  ok      valid now: 2025-03-01 to 2029-07-14
  FAILED  the CA certificate on the card is none of the CA files
Signing certificate
  --      not checked: reading it needs the signature password (jpki cert verify --sign)
  FAILED  the CA certificate on the card is none of the CA files
Checked offline: revocation is not checked.
Result: does NOT verify." ] || fail "output:
$out" ;;
@verify-shipped-cas-ja)
    run_jpki ja cert verify; expect_rc 7
    expect_line out "  NG  $shipped_ca_dir にあるJ-LISのCA証明書のどれによっても発行されていません"
    expect_line out "  NG  カード内のCA証明書がどのCA証明書ファイルとも一致しません"
    expect_line out "オフラインで確認しました: 失効しているかどうかは確認していません。"
    expect_line out "結果: 検証に失敗しました。" ;;
@verify-sign)
    JPKI_CA_DIR=$scratch/ca with_input en ABC123 cert verify --sign; expect_rc 0
    [ "$out" = "Authentication certificate
  ok      issued by J-LIS, generation test (auth_ca_test.pem): the signature verifies
  ok      valid now: 2025-03-01 to 2029-07-14
  ok      the CA certificate is valid now: 2023-01-01 to 2043-01-01
  ok      the CA certificate on the card is auth_ca_test.pem
Signing certificate
  ok      issued by J-LIS, generation test (sign_ca_test.pem): the signature verifies
  ok      valid now: 2025-03-01 to 2029-07-14
  ok      the CA certificate is valid now: 2023-01-01 to 2043-01-01
  ok      the CA certificate on the card is sign_ca_test.pem
Checked offline: revocation is not checked.
Result: verifies." ] || fail "output:
$out"
    expect_reset_after_verify ;;
@verify-expired-en)
    day=$(japan_days_from_today -10)
    JPKI_CA_DIR=$scratch/ca run_jpki en cert verify; expect_rc 7
    expect_line out "  ok      issued by J-LIS, generation test (auth_ca_test.pem): the signature verifies"
    expect_line out "  FAILED  not valid now: expired on $day"
    expect_line out "Result: does NOT verify." ;;
@verify-expired-ja)
    day=$(japan_days_from_today -10)
    IFS=- read -r y m d <<<"$day"
    JPKI_CA_DIR=$scratch/ca run_jpki ja cert verify; expect_rc 7
    expect_line out "  NG  有効ではありません: 有効期限が${y}年$((10#$m))月$((10#$d))日に切れています"
    expect_line out "結果: 検証に失敗しました。" ;;
@verify-no-sign-cert)
    JPKI_CA_DIR=$scratch/ca run_jpki en cert verify; expect_rc 0
    expect_line out "  --      none on this card (cards issued to children under 15 have none)"
    JPKI_CA_DIR=$scratch/ca run_jpki ja cert verify; expect_rc 0
    expect_line out "  --  このカードにはありません（15歳未満の方のカードには搭載されません）" ;;
*) fail "unknown case $1" ;;
esac
