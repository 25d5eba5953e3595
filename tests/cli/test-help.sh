#!/usr/bin/env bash
# `jpki --help`, `--version`, unknown commands and options, in both languages (no card needed).
source "$(dirname "$0")/lib.sh"
cases=(help-en help-ja version unknown-command-en unknown-command-ja no-command)
[ "${1:-}" = --list ] && { printf '%s\n' "${cases[@]}"; exit 0; }

case ${1:?case} in
help-en)
    run_jpki en --help; expect_rc 0
    expect_line out "Usage: jpki COMMAND [OPTIONS]"
    expect_line out "  status   Readers, cards, certificates (days left, renewal) and PIN tries left"
    expect_line out "  4  wrong PIN (tries remain)" ;;
help-ja)
    run_jpki ja --help; expect_rc 0
    expect_line out "使い方: jpki コマンド [オプション]"
    expect_line out "  status   カードリーダー・カード・証明書（残り日数、更新時期）と暗証番号の残り回数"
    expect_line out "  4  暗証番号の誤り（残り回数あり）" ;;
version)
    run_jpki en --version; expect_rc 0
    [[ $out =~ ^jpki\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "version: $out" ;;
unknown-command-en)
    run_jpki en frobnicate; expect_rc 2
    expect_line err "jpki: unknown command 'frobnicate'" ;;
unknown-command-ja)
    run_jpki ja frobnicate; expect_rc 2
    expect_line err "jpki: 'frobnicate' というコマンドはありません" ;;
no-command)
    run_jpki en; expect_rc 2
    expect_line out "Commands:" ;;
*) fail "unknown case $1" ;;
esac
