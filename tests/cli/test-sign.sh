#!/usr/bin/env bash
# `jpki sign` / `jpki verify` against the virtual card behind a private pcscd (with-vcard.sh), in
# English and Japanese: a detached CMS signature with either key, checked by `jpki verify` and by
# `openssl cms -verify` with the test CA; a changed file, another CA, a damaged .p7s; the card's
# trace shows one PIN, the SIGN, then the reset that ends the login.
#
# Each case runs its body inside with-vcard.sh (this script again, with --inside), then checks
# the trace outside. The CA folder holds the test PKI's CAs under the shipped names.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pki-variants.sh"
cases=(help-en help-ja
       sign-key-en auth-key-ja lowercase-en
       modified-en modified-ja wrong-ca-en corrupt-ja missing-file-en
       exists-en exists-ja force-en one-try-en one-try-ja no-sign-cert-en no-sign-cert-ja wrong-pin-ja
       empty-file-en no-folder-en no-folder-ja output-directory-en output-is-input-en output-is-input-ja
       not-regular-en not-regular-ja name-too-long-en symlink-loop-ja empty-o-en
       expired-auth-en expired-auth-ja expired-sign-en large-file-en no-ca-files-en no-ca-files-ja)
[ "${1:-}" = --list ] && { printf '%s\n' "${cases[@]}"; exit 0; }
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
pki=$repo/tests/pki

sign_subject="CN=20250301SIGN0JPKITEST0000001S,L=Kakuu-ku,L=Tokyo-to,C=JP"
auth_subject="CN=20250301AUTH0JPKITEST0000001A,C=JP"
pin_apdu_re='^(002000[0-9A-F]{2}[0-9A-F]{2}\*|0024)'

expect_signed_at() {  # the signing time is the card holder's clock: only its form is fixed (Japan time)
    grep -qE "^$1 $2 [0-9]{2}:[0-9]{2}:[0-9]{2} $3\$" <<<"$out" || fail "no signing time line in: $out"
}
openssl_agrees() {  # FILE P7S CA.pem: OpenSSL's own CMS verification, as a recipient would run it
    openssl cms -verify -binary -content "$1" -inform DER -in "$2" -CAfile "$3" -out /dev/null 2>/dev/null ||
        fail "openssl cms -verify refused $2 with $3"
}

# ---- inside with-vcard.sh -------------------------------------------------------------------
inside() {
cd "$work" || exit 1
case $1 in
help-en)
    run_jpki en sign --help; expect_rc 0
    expect_line out "Usage: jpki sign FILE [--key sign|auth] [-o FILE.p7s] [--force] [--reader NAME]"
    run_jpki en verify --help; expect_rc 0
    expect_line out "Usage: jpki verify FILE FILE.p7s" ;;
help-ja)
    run_jpki ja sign --help; expect_rc 0
    expect_line out "使い方: jpki sign ファイル [--key sign|auth] [-o ファイル.p7s] [--force] [--reader 名前]"
    # Japanese is 2 columns a character: the -o line's text goes below, in the column of the others.
    expect_line out "  -o ファイル.p7s"
    expect_line out "                 署名の書き出し先（既定: ファイル.p7s）"
    expect_line out "  --force        書き出し先のファイルが既にあれば置き換えます"
    run_jpki ja verify --help; expect_rc 0
    expect_line out "使い方: jpki verify ファイル ファイル.p7s" ;;
sign-key-en)
    run_jpki en sign doc.txt <<<'ABC123'; expect_rc 0
    expect_line out "Signed doc.txt with your signing certificate."
    expect_line out "Signer: $sign_subject"
    expect_line out "Signature: doc.txt.p7s (detached CMS, SHA-256)"
    expect_no_text out "Lower-case"
    run_jpki en verify doc.txt doc.txt.p7s; expect_rc 0
    expect_line out "Signer: $sign_subject"
    expect_signed_at "Signed at:" "[0-9]{4}-[0-9]{2}-[0-9]{2}" "JST \(as stated by the signer\)"
    expect_line out "Certificate: signing certificate"
    expect_line out "Signature: valid"
    expect_line out "Checked offline: whether the certificate has been revoked (card lost, address or name changed, renewed) was not checked."
    openssl_agrees doc.txt doc.txt.p7s "$pki/sign-ca.pem" ;;
auth-key-ja)
    run_jpki ja sign --key auth -o sig.p7s doc.txt <<<'1234'; expect_rc 0
    expect_line out "doc.txt に利用者証明用電子証明書で署名しました。"
    expect_line out "署名者: $auth_subject"
    expect_line out "署名: sig.p7s（分離 CMS 署名、SHA-256）"
    run_jpki ja verify doc.txt sig.p7s; expect_rc 0
    expect_line out "署名者: $auth_subject"
    expect_signed_at "署名日時:" "[0-9]{4}年[0-9]{1,2}月[0-9]{1,2}日" "日本時間（署名者の申告による）"
    expect_line out "電子証明書: 利用者証明用電子証明書"
    expect_line out "署名: 有効"
    expect_line out "オフラインで検証しました。電子証明書が失効しているか（カードの紛失、住所・氏名の変更、更新など）は確認していません。"
    openssl_agrees doc.txt sig.p7s "$pki/auth-ca.pem" ;;
lowercase-en)
    run_jpki en sign doc.txt <<<'abc123'; expect_rc 0
    expect_line out "Lower-case letters count as capitals: the card took your entry in capital letters."
    expect_no_text out "abc123"; expect_no_text out "ABC123" ;;
modified-en)
    run_jpki en sign doc.txt <<<'ABC123'; expect_rc 0
    printf 'one more line\n' >>doc.txt
    run_jpki en verify doc.txt doc.txt.p7s; expect_rc 7
    expect_line out "Signer: $sign_subject"
    expect_line err "Not valid: doc.txt does not match the signature: it was changed after signing, or it is another file."
    expect_no_text out "Signature: valid" ;;
modified-ja)
    run_jpki ja sign doc.txt <<<'ABC123'; expect_rc 0
    printf 'X' | dd of=doc.txt bs=1 seek=0 conv=notrunc status=none   # same length, one byte changed
    run_jpki ja verify doc.txt doc.txt.p7s; expect_rc 7
    expect_line err "無効: doc.txt は署名と一致しません。署名後に変更されたか、別のファイルです。" ;;
wrong-ca-en)
    run_jpki en sign doc.txt <<<'ABC123'; expect_rc 0
    mkdir -p only-auth && cp "$pki/auth-ca.pem" only-auth/auth_ca_test.pem
    JPKI_CA_DIR=$work/only-auth run_jpki en verify doc.txt doc.txt.p7s; expect_rc 7
    expect_line out "Certificate: not issued by a J-LIS CA known here"
    expect_line err "Not valid: the signer's certificate was not issued by a J-LIS certification authority (CA certificates from $work/only-auth)." ;;
corrupt-ja)
    run_jpki ja sign doc.txt <<<'ABC123'; expect_rc 0
    head -c 200 doc.txt.p7s >cut.p7s
    run_jpki ja verify doc.txt cut.p7s; expect_rc 7
    expect_line err "無効: cut.p7s は読み取れる CMS 署名ではありません（壊れているか、DER 形式の分離署名ではありません）。" ;;
missing-file-en)
    run_jpki en sign nothing.txt <<<'ABC123'; expect_rc 1
    expect_line err "Cannot read nothing.txt: No such file or directory" ;;
exists-en)
    : >doc.txt.p7s
    run_jpki en sign doc.txt <<<'ABC123'; expect_rc 1
    expect_line err "doc.txt.p7s already exists; nothing was signed. Use --force to replace it."
    [ ! -s doc.txt.p7s ] || fail "the existing output was overwritten" ;;
exists-ja)
    : >other.p7s
    run_jpki ja sign -o other.p7s doc.txt <<<'ABC123'; expect_rc 1
    expect_line err "other.p7s は既にあります。署名はしていません。置き換える場合は --force を指定してください。" ;;
force-en)
    : >doc.txt.p7s
    run_jpki en sign --force doc.txt <<<'ABC123'; expect_rc 0
    run_jpki en verify doc.txt doc.txt.p7s; expect_rc 0
    expect_line out "Signature: valid"
    [ -z "$(find . -name '.doc.txt.p7s.*')" ] || fail "a temporary file was left behind" ;;
one-try-en)
    run_jpki en sign doc.txt <<<'ABC123'; expect_rc 5
    expect_line err "The signature password has only 1 try left, so nothing was sent to the card: a wrong entry would lock it. If you are sure of it, use 'jpki pin verify sign'."
    [ ! -e doc.txt.p7s ] || fail "a signature file was written" ;;
one-try-ja)
    run_jpki ja sign --key auth doc.txt <<<'1234'; expect_rc 5
    expect_line err "利用者証明用の暗証番号の残り回数が1回のため、カードには何も送っていません（間違えるとロックされます）。確実に分かっている場合は 'jpki pin verify auth' を使ってください。" ;;
no-sign-cert-en)
    run_jpki en sign doc.txt <<<'ABC123'; expect_rc 1
    expect_line err "This card has no signing certificate (cards issued to children under 15 have none). Use --key auth to sign with the authentication key."
    run_jpki en sign --key auth doc.txt <<<'1234'; expect_rc 0 ;;
no-sign-cert-ja)
    run_jpki ja sign doc.txt <<<'ABC123'; expect_rc 1
    expect_line err "このカードには署名用電子証明書がありません（15歳未満の方のカードには搭載されません）。利用者証明用の鍵で署名するには --key auth を指定してください。" ;;
wrong-pin-ja)
    run_jpki ja sign doc.txt <<<'WRONG1'; expect_rc 4
    expect_line err "署名用の暗証番号が違います。ロックされるまで残り4回です。"
    [ ! -e doc.txt.p7s ] || fail "a signature file was written" ;;
empty-file-en)
    # Issue 8: an empty vector's data() is null, which BIO_new_mem_buf refused after the PIN.
    : >empty
    run_jpki en sign empty <<<'ABC123'; expect_rc 0
    expect_line out "Signature: empty.p7s (detached CMS, SHA-256)"
    run_jpki en verify empty empty.p7s; expect_rc 0
    expect_line out "Signature: valid"
    openssl_agrees empty empty.p7s "$pki/sign-ca.pem" ;;
no-folder-en)
    # The output is created before the card is asked for anything: no PIN is spent (trace).
    run_jpki en sign -o missing/doc.p7s doc.txt <<<'ABC123'; expect_rc 1
    expect_line err "Cannot write missing/doc.p7s: No such file or directory" ;;
no-folder-ja)
    run_jpki ja sign -o missing/doc.p7s doc.txt <<<'ABC123'; expect_rc 1
    expect_line err "missing/doc.p7s に書き込めません: そのようなファイルやディレクトリはありません" ;;
output-directory-en)
    mkdir out.p7s
    run_jpki en sign --force -o out.p7s doc.txt <<<'ABC123'; expect_rc 1
    expect_line err "Cannot write out.p7s: Is a directory"
    [ -z "$(ls -A out.p7s)" ] || fail "something was written into the folder" ;;
output-is-input-en)
    cp doc.txt before.txt
    run_jpki en sign --force -o doc.txt doc.txt <<<'ABC123'; expect_rc 1
    expect_line err "doc.txt is the file to sign: the signature needs another file (-o FILE.p7s)."
    cmp -s doc.txt before.txt || fail "the input was changed" ;;
output-is-input-ja)
    ln -s doc.txt link.txt
    run_jpki ja sign --force -o link.txt doc.txt <<<'ABC123'; expect_rc 1
    expect_line err "link.txt は署名するファイルそのものです。署名は別のファイルに書き出してください（-o ファイル.p7s）。" ;;
not-regular-en)
    # A device would be read for ever (/dev/zero), a pipe only once: refused before the PIN.
    run_jpki en sign -o zero.p7s /dev/zero <<<'ABC123'; expect_rc 1
    expect_line err "/dev/zero is not a regular file (a folder, a device or a pipe): sign a regular file."
    mkfifo fifo
    run_jpki en verify fifo doc.txt.p7s; expect_rc 1
    expect_line err "fifo is not a regular file (a folder, a device or a pipe): verify a regular file." ;;
not-regular-ja)
    mkfifo fifo
    run_jpki ja sign -o fifo.p7s fifo <<<'ABC123'; expect_rc 1
    expect_line err "fifo は通常のファイルではありません（フォルダー、デバイスまたはパイプです）。署名できるのは通常のファイルです。" ;;
name-too-long-en)
    long=$(printf 'n%.0s' {1..300})
    run_jpki en sign -o "$long.p7s" doc.txt <<<'ABC123'; expect_rc 1
    expect_line err "Cannot write $long.p7s: File name too long"
    expect_no_text err "filesystem error" ;;
symlink-loop-ja)
    ln -s loop loop
    run_jpki ja sign loop <<<'ABC123'; expect_rc 1
    expect_line err "loop を読み込めません: シンボリックリンクの階層が多すぎます" ;;
empty-o-en)
    run_jpki en sign -o '' doc.txt <<<'ABC123'; expect_rc 2
    expect_text err "-o needs a file name" ;;
expired-auth-en)
    # The authentication certificate is free to read: refused before the PIN (trace: none sent).
    run_jpki en sign --key auth doc.txt <<<'1234'; expect_rc 1
    expect_line err "Your authentication certificate expired on $(japan_days_from_today -10): nothing was signed. Renew it at your city office (bring the card and an identity document)."
    [ ! -e doc.txt.p7s ] || fail "a signature file was written" ;;
expired-auth-ja)
    IFS=- read -r y m d <<<"$(japan_days_from_today -10)"
    run_jpki ja sign --key auth doc.txt <<<'1234'; expect_rc 1
    expect_line err "利用者証明用電子証明書の有効期限は${y}年$((10#$m))月$((10#$d))日に切れています。署名はしていません。市区町村の窓口で更新してください（カードと本人確認書類をお持ちください）。" ;;
expired-sign-en)
    # The signing certificate needs the password: checked after reading it, before the SIGN.
    run_jpki en sign doc.txt <<<'ABC123'; expect_rc 1
    expect_line err "Your signing certificate expired on $(japan_days_from_today -10): nothing was signed. Renew it at your city office (bring the card and an identity document)."
    [ ! -e doc.txt.p7s ] || fail "a signature file was written"
    [ -z "$(find . -name '.doc.txt.p7s.*')" ] || fail "a temporary file was left behind" ;;
large-file-en)
    # Streamed: 300 MB (sparse) signed and verified with 200 MB of address space; the whole file
    # in memory would not fit.
    truncate -s 300M big
    ( ulimit -v 200000; run_jpki en sign big <<<'ABC123'; expect_rc 0
      run_jpki en verify big big.p7s; expect_rc 0
      expect_line out "Signature: valid" ) || exit 1
    openssl_agrees big big.p7s "$pki/sign-ca.pem" ;;
no-ca-files-en)
    run_jpki en sign doc.txt <<<'ABC123'; expect_rc 0
    mkdir -p misnamed && cp "$pki/sign-ca.pem" misnamed/sign-ca.pem
    JPKI_CA_DIR=$work/misnamed run_jpki en verify doc.txt doc.txt.p7s; expect_rc 1
    expect_line err "No CA certificates named auth_ca_*.pem or sign_ca_*.pem in $work/misnamed." ;;
no-ca-files-ja)
    run_jpki ja sign doc.txt <<<'ABC123'; expect_rc 0
    mkdir -p misnamed
    JPKI_CA_DIR=$work/misnamed run_jpki ja verify doc.txt doc.txt.p7s; expect_rc 1
    expect_line err "$work/misnamed に auth_ca_*.pem または sign_ca_*.pem という名前のCA証明書がありません。" ;;
*) fail "unknown case $1" ;;
esac
}

if [ "${1:-}" = --inside ]; then
    work=$2; export JPKI_CA_DIR=${JPKI_CA_DIR:-$work/ca}
    inside "$3"; exit $?
fi

# ---- outside -------------------------------------------------------------------------------
case=${1:?case}
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
trace=$scratch/trace
work=$scratch/work
mkdir -p "$work/ca"
cp "$pki/auth-ca.pem" "$work/ca/auth_ca_test.pem"
cp "$pki/sign-ca.pem" "$work/ca/sign_ca_test.pem"
printf 'A document to sign.\r\nSecond line.\n' >"$work/doc.txt"
case $case in
help-*) JPKI_CA_DIR=$work/ca inside "$case"; exit $? ;;
one-try-en) card_options=(--sign-tries 1) ;;
one-try-ja) card_options=(--auth-tries 1) ;;
no-sign-cert-*) card_options=(--no-sign-cert) ;;
expired-*)
    pki_expiring_on "$scratch/pki" "$(japan_days_from_today -10)" || exit 1
    card_options=(--pki-dir "$scratch/pki") ;;
*) card_options=() ;;
esac
bash "$WITH_VCARD" "${card_options[@]}" --trace "$trace" -- bash "$self" --inside "$work" "$case" ||
    fail "case $case failed inside with-vcard.sh"

pins_sent=$(grep -cE "$pin_apdu_re" "$trace")
case $case in
sign-key-en|auth-key-ja)
    # One VERIFY, one COMPUTE DIGITAL SIGNATURE, then the reset that ends the login.
    [ "$pins_sent" = 1 ] || fail "expected one PIN APDU, got $pins_sent:
$(cat "$trace")"
    sign_line=$(grep -n '^802A' "$trace" | tail -1 | cut -d: -f1)
    reset_line=$(grep -n '^# reset' "$trace" | tail -1 | cut -d: -f1)
    [ -n "$sign_line" ] && [ -n "$reset_line" ] && [ "$reset_line" -gt "$sign_line" ] ||
        fail "no '# reset' after the SIGN:
$(cat "$trace")" ;;
exists-*|one-try-*|missing-file-en|no-folder-*|output-*|not-regular-*|name-too-long-en|symlink-loop-ja|expired-auth-*)
    [ "$pins_sent" = 0 ] || fail "a PIN went to the card:
$(cat "$trace")" ;;
no-sign-cert-ja)
    [ "$pins_sent" = 0 ] || fail "a PIN went to the card" ;;
expired-sign-en)
    [ "$pins_sent" = 1 ] || fail "expected one PIN APDU, got $pins_sent"
    ! grep -q '^802A' "$trace" || fail "a COMPUTE DIGITAL SIGNATURE went to the card:
$(cat "$trace")" ;;
esac
exit 0
