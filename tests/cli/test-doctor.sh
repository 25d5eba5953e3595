#!/usr/bin/env bash
# `jpki doctor` (issue 8) under a scratch HOME: with the virtual card behind with-vcard.sh and
# every NSS database set up, the one finding left is the p11-kit registration (and its printed fix,
# run as printed, makes everything well: exit 0); pcscd stopped; a pcscd without readers; a
# profile without the module (fix: jpki setup firefox); modutil and p11-kit missing; which tokens
# each program sees (Thunderbird: both); --json fields. Exact lines, in English and Japanese.
source "$(dirname "$0")/lib.sh"
cases=(vcard-en vcard-ja fix-applies no-pcscd-en no-pcscd-ja no-reader-en no-reader-ja not-loaded
       tools-missing slots-ja json help)
[ "${1:-}" = --list ] && { printf '%s\n' "${cases[@]}"; exit 0; }

MODULE=$build/jpki-pkcs11.so
[ -r "$MODULE" ] || fail "module not built: $MODULE"
[ -n "${WITH_VCARD_CTL:-}" ] || {
    # Every case runs inside with-vcard.sh (the card, a private pcscd); this script again there.
    command -v modutil >/dev/null || { echo "SKIP: libnss3-tools not installed"; exit 77; }
    exec bash "$WITH_VCARD" -- bash "$0" "$@"
}
work=$(mktemp -d "${TMPDIR:-/tmp}/jpki-doctor.XXXXXX") || fail mktemp
trap 'rm -rf "$work"' EXIT
export HOME=$work/home
unset XDG_CONFIG_HOME MOZILLA_CERTIFICATE_FOLDER JPKI_PKCS11_SLOTS
mkdir -p "$HOME/.mozilla/firefox/abcd.default-esr"
certutil -N -d "sql:$HOME/.mozilla/firefox/abcd.default-esr" --empty-password || fail certutil
printf '[Profile0]\nName=default-esr\nIsRelative=1\nPath=abcd.default-esr\nDefault=1\n' >"$HOME/.mozilla/firefox/profiles.ini"
set_up() { "$JPKI" setup all --module "$MODULE" >/dev/null || fail "jpki setup all failed"; }
REG_FIX="  Fix: mkdir -p ~/.config/pkcs11/modules && echo 'module: $MODULE' > ~/.config/pkcs11/modules/jpki-pkcs11.module"
R=$JPKI_VCARD_READER

case ${1:?case} in
vcard-en)
    set_up
    run_jpki en doctor --module "$MODULE"; expect_rc 6
    expect_line out "[ok] The smart card service (pcscd) is reachable."
    expect_line out "[ok] Reader '$R': My Number Card (card label JPKIAPICCTOKEN2)."
    expect_line out "[ok] Module file: $MODULE"
    expect_line out "[action] The module is not registered with p11-kit (GnuTLS programs and p11-kit-proxy do not see it)."
    expect_line out "$REG_FIX"
    expect_line out "[ok] Firefox profile default-esr (~/.mozilla/firefox/abcd.default-esr): module loaded."
    expect_line out "[info] No Thunderbird profile found (looked in ~/.thunderbird/profiles.ini)."
    expect_line out "[ok] Chrome/Chromium (~/.pki/nssdb): module loaded."
    expect_line out "[ok] LibreOffice (no certificate folder set: it uses the Firefox profile default-esr, ~/.mozilla/firefox/abcd.default-esr): module loaded."
    expect_line out "1 finding needs your action."
    [ "$(grep -c '^\[action\]' <<<"$out")" = 1 ] || fail "more than one finding: $out" ;;
vcard-ja)
    set_up
    run_jpki ja doctor --module "$MODULE"; expect_rc 6
    expect_line out "[正常] スマートカードサービス（pcscd）に接続できます。"
    expect_line out "[正常] カードリーダー「$R」: マイナンバーカード（カードのラベル JPKIAPICCTOKEN2）。"
    expect_line out "[要対応] モジュールが p11-kit に登録されていません（GnuTLS を使うプログラムや p11-kit-proxy からは見えません）。"
    expect_line out "  対処: mkdir -p ~/.config/pkcs11/modules && echo 'module: $MODULE' > ~/.config/pkcs11/modules/jpki-pkcs11.module"
    expect_line out "[正常] Firefox のプロファイル default-esr（~/.mozilla/firefox/abcd.default-esr）: モジュールは登録済みです。"
    expect_line out "対応が必要な項目が 1 件あります。" ;;
fix-applies)
    # The printed fix, run as printed, registers the module (p11-kit reads ~/.config/pkcs11).
    set_up
    run_jpki en doctor --module "$MODULE"; expect_rc 6
    fix=$(grep -F '  Fix: mkdir' <<<"$out" | sed 's/^  Fix: //')
    (cd "$HOME" && eval "$fix") || fail "the fix failed: $fix"
    run_jpki en doctor --module "$MODULE"; expect_rc 0
    expect_line out "[ok] Registered with p11-kit: $HOME/.config/pkcs11/modules/jpki-pkcs11.module"
    expect_line out "All is well."
    run_jpki ja doctor --module "$MODULE"; expect_rc 0
    expect_line out "問題はありません。" ;;
no-pcscd-en|no-pcscd-ja)
    set_up
    "$WITH_VCARD_CTL" stop-pcscd >/dev/null || fail "stop-pcscd"
    fix=$(bash -c '[ -e /usr/sbin/pcscd ] && echo "sudo systemctl start pcscd.socket" || echo "sudo apt install pcscd"')
    if [ "$1" = no-pcscd-en ]; then
        run_jpki en doctor --module "$MODULE"; expect_rc 6
        expect_line out "[action] The smart card service (pcscd) is not reachable."
        expect_line out "  Fix: $fix"
        expect_line out "2 findings need your action."
    else
        run_jpki ja doctor --module "$MODULE"; expect_rc 6
        expect_line out "[要対応] スマートカードサービス（pcscd）に接続できません。"
        expect_line out "  対処: $fix"
    fi
    expect_no_text out "Reader" ;;
no-reader-en|no-reader-ja)
    set_up
    "$WITH_VCARD_CTL" stop-pcscd >/dev/null && "$WITH_VCARD_CTL" start-pcscd --no-reader >/dev/null || fail "no-reader pcscd"
    if [ "$1" = no-reader-en ]; then
        run_jpki en doctor --module "$MODULE"; expect_rc 6
        expect_line out "[ok] The smart card service (pcscd) is reachable."
        expect_line out "[action] No card reader found."
        expect_line out "  Fix: connect the card reader (USB: plug it in; then check with: pcsc_scan)"
    else
        run_jpki ja doctor --module "$MODULE"; expect_rc 6
        expect_line out "[要対応] カードリーダーが見つかりません。"
        expect_line out "  対処: カードリーダーを接続してください（USB の場合は差し込み、pcsc_scan で確認できます）"
    fi ;;
not-loaded)
    run_jpki en doctor --module "$MODULE"; expect_rc 6
    expect_line out "[action] Firefox profile default-esr (~/.mozilla/firefox/abcd.default-esr): module not loaded."
    expect_line out "  Fix: jpki setup firefox --module $MODULE"
    expect_line out "[info] Chrome/Chromium (~/.pki/nssdb): no certificate database yet."
    expect_line out "  Fix: jpki setup chrome --module $MODULE"
    [ ! -e "$HOME/.pki" ] || fail "doctor created ~/.pki"
    run_jpki ja doctor --module "$MODULE"; expect_rc 6
    expect_line out "[要対応] Firefox のプロファイル default-esr（~/.mozilla/firefox/abcd.default-esr）: モジュールが登録されていません。"
    expect_line out "  対処: jpki setup firefox --module $MODULE"
    # Without --module, the fix adds the installed module.
    run_jpki en doctor
    expect_line out "  Fix: jpki setup firefox" ;;
tools-missing)
    # Only what lib.sh's run_jpki itself needs is on PATH: no modutil, no p11-kit.
    mkdir -p "$work/path"
    for tool in env mktemp cat rm; do ln -s "$(command -v $tool)" "$work/path/$tool"; done
    PATH=$work/path run_jpki en doctor --module "$MODULE"; expect_rc 6
    expect_line out "[action] modutil is not installed: the NSS databases cannot be checked."
    expect_line out "  Fix: sudo apt install libnss3-tools"
    expect_line out "[action] p11-kit is not installed (GnuTLS programs and p11-kit-proxy find modules through it)."
    expect_line out "  Fix: sudo apt install p11-kit"
    PATH=$work/path run_jpki ja doctor --module "$MODULE"; expect_rc 6
    expect_line out "[要対応] modutil がインストールされていないため、NSS データベースを確認できません。" ;;
slots-ja)
    run_jpki en doctor --module "$MODULE"
    expect_line out "[info] Thunderbird (thunderbird, thunderbird-bin) sees both tokens."
    expect_line out "[info] Firefox (firefox, firefox-esr, firefox-bin) sees the authentication token only."
    expect_line out "[info] LibreOffice (soffice.bin) sees the signature token only."
    run_jpki ja doctor --module "$MODULE"
    expect_line out "[情報] Thunderbird（thunderbird, thunderbird-bin）から見えるのは両方のトークンです。"
    expect_line out "[情報] Chrome/Chromium（chrome, chromium, chromium-browse）から見えるのは利用者証明用のトークンのみです。"
    # A configuration file's `slots` replaces the defaults for every program.
    mkdir -p "$HOME/.config" && printf 'slots = sign\n' >"$HOME/.config/jpki-pkcs11.conf"
    run_jpki en doctor --module "$MODULE"
    expect_line out "[info] ~/.config/jpki-pkcs11.conf sets slots = sign for every program: it replaces the choices above." ;;
json)
    set_up
    run_jpki en doctor --json --module "$MODULE"; expect_rc 6
    python3 - "$out" "$MODULE" "$R" <<'PY' || fail "JSON fields: $out"
import json, sys
d = json.loads(sys.argv[1]); module = sys.argv[2]; reader = sys.argv[3]
assert d["ok"] is False
assert d["pcscd"] == {"reachable": True}
with_card = [r for r in d["readers"] if r["card_present"]]
assert with_card == [{"name": reader, "card_present": True, "card": {"label": "JPKIAPICCTOKEN2"}}], d["readers"]
assert all(r["card"] is None for r in d["readers"] if r["name"] != reader), d["readers"]
assert d["module"] == {"path": module, "installed": True, "p11kit_registered": False, "p11kit_config": None}, d["module"]
states = {(x["program"], x["state"]) for x in d["nss_databases"]}
assert states == {("firefox", "loaded"), ("chrome", "loaded"), ("libreoffice", "loaded")}, states
slots = {x["program"]: x["tokens"] for x in d["slots"]}
assert slots == {"firefox": "auth", "thunderbird": "both", "chrome": "auth", "libreoffice": "sign"}, slots
actions = [f for f in d["findings"] if f["status"] == "action"]
assert [f["check"] for f in actions] == ["p11-kit"], actions
assert actions[0]["fix"].startswith("mkdir -p ~/.config/pkcs11/modules && echo 'module: " + module), actions
PY
    ;;
help)
    run_jpki en doctor --help; expect_rc 0
    expect_line out "Usage: jpki doctor [--json] [--module PATH]"
    run_jpki ja doctor --help; expect_rc 0
    expect_line out "使い方: jpki doctor [--json] [--module パス]"
    expect_line out "終了コード: 0 問題なし、6 対応が必要な項目がある。" ;;
*) fail "unknown case $1" ;;
esac
