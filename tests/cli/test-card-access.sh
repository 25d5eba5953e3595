#!/usr/bin/env bash
# What every card-using jpki command shares (src/cli/card_access.*, terminal.*, main.cpp; issue 8
# and its new-user test): the card is reset only when a PIN actually went out; wrong-PIN and
# locked messages name the PIN; a card held exclusively by another program and a pcscd lost
# mid-command get messages that say what to do; full-width and space hints for a malformed PIN;
# "Yes" confirms; output that cannot be written is a failure; -h is --help everywhere.
source "$(dirname "$0")/lib.sh"
cases=(no-reset-when-refused exclusive-en exclusive-ja pcscd-lost-en fullwidth-en fullwidth-ja space-en
       confirm-capital-yes output-unwritable-en output-unwritable-ja dash-h)
[ "${1:-}" = --list ] && { printf '%s\n' "${cases[@]}"; exit 0; }

# The outer run makes the scratch folder; the run inside with-vcard.sh ("@CASE") uses the same.
if [ -z "${CLI_SCRATCH:-}" ]; then
    CLI_SCRATCH=$(mktemp -d)
    export CLI_SCRATCH
    trap 'rm -rf "$CLI_SCRATCH"' EXIT
fi
scratch=$CLI_SCRATCH
fixture=$build/tests/pcsc/pcsc-fixture

# in_vcard CASE [jpki-vcard options]: runs "@CASE" of this script inside with-vcard.sh.
in_vcard() {
    local case=$1; shift
    bash "$WITH_VCARD" "$@" -- bash "$0" "@$case"
}

# wait_for_line FILE REGEX: polls (bounded, 20 s) until a line of FILE matches.
wait_for_line() {
    local i
    for ((i = 0; i < 200; i++)); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    fail "no line matching '$2' in $1: $(cat "$1" 2>/dev/null)"
}

case ${1:?case} in
no-reset-when-refused) in_vcard "$1" --auth-tries 2 --trace "$scratch/trace" ;;
@no-reset-when-refused)
    # A: jpki sign --key auth reads the counter (2 tries), then waits for the PIN on a FIFO.
    # B: meanwhile a wrong PIN takes a try. A's PIN then meets 1 try left inside its transaction:
    # refused, nothing sent. Only B's VERIFY may cost the card a reset (one in the trace).
    echo "document" >"$scratch/doc.txt"
    mkfifo "$scratch/pin"
    en "$JPKI" sign --key auth "$scratch/doc.txt" <"$scratch/pin" >"$scratch/a.out" 2>"$scratch/a.err" &
    a=$!
    exec 3>"$scratch/pin"
    wait_for_line "$scratch/trace" '^00200080 63C2$'
    run_jpki en pin verify auth <<<'9999'; expect_rc 4
    echo 1234 >&3; exec 3>&-
    wait "$a"; rc=$?; out=$(cat "$scratch/a.out"); err=$(cat "$scratch/a.err")
    expect_rc 5
    expect_line err "The authentication PIN has only 1 try left, so nothing was sent to the card: a wrong entry would lock it. If you are sure of it, use 'jpki pin verify auth'."
    [ "$(grep -c '^0020008004' "$scratch/trace")" = 1 ] || fail "PIN-carrying VERIFYs: $(cat "$scratch/trace")"
    [ "$(grep -c '^# reset' "$scratch/trace")" = 1 ] || fail "a reset without a PIN sent: $(cat "$scratch/trace")" ;;
exclusive-en|exclusive-ja) in_vcard "$1" ;;
@exclusive-en|@exclusive-ja)
    lang=en; [ "$1" = @exclusive-ja ] && lang=ja
    "$fixture" hold-exclusive "$JPKI_VCARD_READER" 20 &
    holder=$!
    for ((i = 0; i < 100; i++)); do
        run_jpki "$lang" status
        [ "$rc" = 1 ] && break
        sleep 0.1
    done
    kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
    expect_rc 1
    if [ "$lang" = en ]; then
        expect_line err "Another program holds the card for itself alone, so nothing could be sent to it. Close that program and try again. GnuPG's smart card daemon does this by default: stop it with 'gpgconf --kill scdaemon' (and set 'pcsc-shared' in ~/.gnupg/scdaemon.conf)."
    else
        expect_line err "別のプログラムがカードを占有しているため、カードに何も送れませんでした。そのプログラムを終了してからもう一度実行してください。GnuPG のスマートカードデーモン（scdaemon）は標準でカードを占有します: 'gpgconf --kill scdaemon' で止めてください（~/.gnupg/scdaemon.conf に 'pcsc-shared' を書くと占有しなくなります）。"
    fi ;;
pcscd-lost-en) in_vcard "$1" --trace "$scratch/trace" ;;
@pcscd-lost-en)
    # pcscd restarts while jpki waits for the PIN: the connection is gone; the message says so
    # (pcscd is running again, "not running" would be wrong) and no PIN reaches the card.
    echo "document" >"$scratch/doc.txt"
    mkfifo "$scratch/pin"
    en "$JPKI" sign --key auth "$scratch/doc.txt" <"$scratch/pin" >"$scratch/a.out" 2>"$scratch/a.err" &
    a=$!
    exec 3>"$scratch/pin"
    wait_for_line "$scratch/trace" '^00200080 63C3$'
    "$WITH_VCARD_CTL" restart-pcscd >/dev/null || fail "restart-pcscd"
    echo 1234 >&3; exec 3>&-
    wait "$a"; rc=$?; err=$(cat "$scratch/a.err"); out=$(cat "$scratch/a.out")
    expect_rc 3
    expect_line err "The connection to the smart card service (pcscd) was lost: it stopped or restarted, or the reader was unplugged. Run the command again."
    ! grep -q '^0020008004' "$scratch/trace" || fail "a PIN went out: $(cat "$scratch/trace")" ;;
fullwidth-en|fullwidth-ja|space-en) in_vcard "$1" --trace "$scratch/trace" ;;
@fullwidth-en)
    run_jpki en pin verify auth <<<'１２３４'; expect_rc 2
    expect_line err "The authentication PIN is exactly 4 digits. Nothing was sent to the card."
    expect_line err "The entry contains characters other than A-Z and 0-9: check that the input method is not in full-width mode." ;;
@fullwidth-ja)
    run_jpki ja pin verify auth <<<'１２３４'; expect_rc 2
    expect_line err "英数字（A-Z、0-9）以外の文字が含まれています。全角入力になっていないか確認してください（半角で入力します）。"
    ! grep -q '^0020008004' "$scratch/trace" || fail "a PIN went out" ;;
@space-en)
    run_jpki en pin verify auth <<<'1234 '; expect_rc 2
    expect_line err "The entry contains a space."
    ! grep -q '^0020008004' "$scratch/trace" || fail "a PIN went out" ;;
confirm-capital-yes) in_vcard "$1" --auth-tries 1 ;;
@confirm-capital-yes)
    run_jpki en pin verify auth <<<$'Yes\n1234'; expect_rc 0
    expect_line out "The authentication PIN is correct (3 tries available)." ;;
output-unwritable-en)
    run_jpki en --help >/dev/null
    en "$JPKI" --help >/dev/full 2>"$scratch/err"; rc=$?; err=$(cat "$scratch/err"); out=
    expect_rc 1
    expect_line err "Could not write the output: No space left on device" ;;
output-unwritable-ja)
    ja "$JPKI" --help >/dev/full 2>"$scratch/err"; rc=$?; err=$(cat "$scratch/err"); out=
    expect_rc 1
    expect_text err "出力を書き込めませんでした: " ;;
dash-h)
    for command in status "pin" cert sign verify setup doctor; do
        run_jpki en $command -h
        [ "$rc" = 0 ] || fail "jpki $command -h: exit $rc: $err"
        expect_text out "Usage: jpki $command"
    done ;;
*) fail "unknown case $1" ;;
esac
