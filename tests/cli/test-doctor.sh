#!/usr/bin/env bash
# `jpki doctor` (issue 8) under a scratch HOME: with the virtual card behind with-vcard.sh and
# every NSS database set up, the one finding left is the p11-kit registration (and its printed fix,
# run as printed, makes everything well: exit 0); pcscd stopped; a pcscd without readers; a
# profile without the module (fix: jpki setup firefox); modutil and p11-kit missing; which tokens
# each program sees (Thunderbird: both; OpenSSH's three process names on one line); --json fields;
# root's ~/.config/pkcs11 (which p11-kit ignores) not counted, the fix naming p11-kit's own folder;
# --json with a profile name that is not UTF-8; a file that is no module; damaged and read-only
# databases (fix: the database, not jpki setup); a missing profile folder in setup's words. Exact
# lines, in English and Japanese.
# As root (p11-kit reads only its system folders then) each case runs in a private mount namespace
# where p11-kit's module folder is the test's own, so that printed fixes can be run as printed.
source "$(dirname "$0")/lib.sh"
cases=(vcard-en vcard-ja fix-applies no-pcscd-en no-pcscd-ja no-reader-en no-reader-ja not-loaded
       tools-missing slots-ja json help root-user-config json-invalid-utf8 not-a-module damaged-db
       read-only missing-profile-folder pki-is-a-file)
[ "${1:-}" = --list ] && { printf '%s\n' "${cases[@]}"; exit 0; }

MODULE=$build/jpki-pkcs11.so
[ -r "$MODULE" ] || fail "module not built: $MODULE"
[ -n "${WITH_VCARD_CTL:-}" ] || {
    # Every case runs inside with-vcard.sh (the card, a private pcscd); this script again there.
    command -v modutil >/dev/null || { echo "SKIP: libnss3-tools not installed"; exit 77; }
    exec bash "$WITH_VCARD" -- bash "$0" "$@"
}
P11KIT_CONFIGS=$(pkg-config --variable=p11_module_configs p11-kit-1 2>/dev/null)
: "${P11KIT_CONFIGS:=/usr/share/p11-kit/modules}"
# isolate COMMAND...: COMMAND as (namespace) root with p11-kit's module folders replaced by
# $work/p11kit-configs (empty at first) and an empty /etc/pkcs11.
isolate() {
    local ns=(unshare --mount)
    [ "$(id -u)" = 0 ] || ns=(unshare --user --map-root-user --mount)
    "${ns[@]}" true 2>/dev/null || { echo "SKIP: no private mount namespace here"; exit 77; }
    mkdir -p "$work/p11kit-configs" "$work/empty"
    "${ns[@]}" sh -c 'mount --bind "$1" "$2" && { [ ! -d /etc/pkcs11 ] || mount --bind "$3" /etc/pkcs11; } && shift 3 && exec "$@"' \
        sh "$work/p11kit-configs" "$P11KIT_CONFIGS" "$work/empty" "$@"
}
if [ -z "${JPKI_DOCTOR_WORK:-}" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/jpki-doctor.XXXXXX") || fail mktemp
    trap 'rm -rf "$work"' EXIT
    if [ "$(id -u)" = 0 ] || [ "${1:-}" = root-user-config ]; then
        JPKI_DOCTOR_WORK=$work isolate bash "$0" "$@"
        exit $?
    fi
else
    work=$JPKI_DOCTOR_WORK
fi
export HOME=$work/home
unset XDG_CONFIG_HOME MOZILLA_CERTIFICATE_FOLDER JPKI_PKCS11_SLOTS
mkdir -p "$HOME/.mozilla/firefox/abcd.default-esr"
certutil -N -d "sql:$HOME/.mozilla/firefox/abcd.default-esr" --empty-password || fail certutil
printf '[Profile0]\nName=default-esr\nIsRelative=1\nPath=abcd.default-esr\nDefault=1\n' >"$HOME/.mozilla/firefox/profiles.ini"
set_up() { "$JPKI" setup all --module "$MODULE" >/dev/null || fail "jpki setup all failed"; }
# p11-kit reads ~/.config/pkcs11 for users other than root only.
if [ "$(id -u)" = 0 ]; then REG_DIR=$P11KIT_CONFIGS REG_FILE=$P11KIT_CONFIGS/jpki-pkcs11.module
else REG_DIR="~/.config/pkcs11/modules" REG_FILE=$HOME/.config/pkcs11/modules/jpki-pkcs11.module; fi
REG_FIX="  Fix: mkdir -p $REG_DIR && echo 'module: $MODULE' > $REG_DIR/jpki-pkcs11.module"
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
    expect_line out "  対処: mkdir -p $REG_DIR && echo 'module: $MODULE' > $REG_DIR/jpki-pkcs11.module"
    expect_line out "[正常] Firefox のプロファイル default-esr（~/.mozilla/firefox/abcd.default-esr）: モジュールは登録済みです。"
    expect_line out "対応が必要な項目が 1 件あります。" ;;
fix-applies)
    # The printed fix, run as printed, registers the module (p11-kit reads ~/.config/pkcs11; as
    # root, its own folder, here the test's).
    set_up
    run_jpki en doctor --module "$MODULE"; expect_rc 6
    fix=$(grep -F '  Fix: mkdir' <<<"$out" | sed 's/^  Fix: //')
    (cd "$HOME" && eval "$fix") || fail "the fix failed: $fix"
    run_jpki en doctor --module "$MODULE"; expect_rc 0
    expect_line out "[ok] Registered with p11-kit: $REG_FILE"
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
    expect_line out "[info] Chrome/Chromium (~/.pki/nssdb): no certificate database yet (jpki setup makes it)."
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
    expect_line out "[info] Thunderbird (thunderbird) sees both tokens."
    expect_line out "[info] Firefox (firefox, firefox-esr) sees the authentication token only."
    expect_line out "[info] LibreOffice (libreoffice) sees the signature token only."
    # pdfsig's one password would go to both tokens (issue 10): the table gives it the sign slot.
    expect_line out "[info] pdfsig sees the signature token only."
    # OpenSSH's three process names are one line, under the commands users type (issue 9).
    expect_line out "[info] OpenSSH (ssh, ssh-keygen, ssh-agent) sees the authentication token only."
    expect_no_text out "ssh-pkcs11-help"
    run_jpki ja doctor --module "$MODULE"
    expect_line out "[情報] Thunderbird（thunderbird）から見えるのは両方のトークンです。"
    # The commands users know, not /proc's 15-character process name chromium-browse.
    expect_line out "[情報] Chrome/Chromium（google-chrome, chromium）から見えるのは利用者証明用のトークンのみです。"
    expect_no_text out "chromium-browse"
    expect_line out "[情報] pdfsig から見えるのは署名用のトークンのみです。"
    expect_line out "[情報] OpenSSH（ssh, ssh-keygen, ssh-agent）から見えるのは利用者証明用のトークンのみです。"
    # A configuration file's `slots` replaces the defaults for every program.
    mkdir -p "$HOME/.config" && printf 'slots = sign\n' >"$HOME/.config/jpki-pkcs11.conf"
    run_jpki en doctor --module "$MODULE"
    expect_line out "[info] ~/.config/jpki-pkcs11.conf sets slots = sign for every program: it replaces the choices above." ;;
json)
    set_up
    run_jpki en doctor --json --module "$MODULE"; expect_rc 6
    python3 - "$out" "$MODULE" "$R" "$REG_DIR" <<'PY' || fail "JSON fields: $out"
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
assert slots == {"firefox": "auth", "thunderbird": "both", "chrome": "auth", "libreoffice": "sign", "pdfsig": "sign", "openssh": "auth"}, slots
openssh = [x for x in d["slots"] if x["program"] == "openssh"]
assert openssh == [{"program": "openssh", "process_names": ["ssh", "ssh-keygen", "ssh-pkcs11-help"], "tokens": "auth"}], openssh
actions = [f for f in d["findings"] if f["status"] == "action"]
assert [f["check"] for f in actions] == ["p11-kit"], actions
assert actions[0]["fix"].startswith("mkdir -p " + sys.argv[4] + " && echo 'module: " + module), actions
PY
    ;;
help)
    run_jpki en doctor --help; expect_rc 0
    expect_line out "Usage: jpki doctor [--json] [--module PATH]"
    run_jpki ja doctor --help; expect_rc 0
    expect_line out "使い方: jpki doctor [--json] [--module パス]"
    expect_line out "終了コード: 0 問題なし、6 対応が必要な項目がある。" ;;
root-user-config)
    # Runs as (namespace) root: p11-kit ignores ~/.config/pkcs11, so a file there is no
    # registration; the fix writes p11-kit's own folder, and p11-kit then lists the module.
    [ "$(id -u)" = 0 ] || fail "not run as root"
    set_up
    mkdir -p "$HOME/.config/pkcs11/modules"
    echo "module: $MODULE" >"$HOME/.config/pkcs11/modules/jpki-pkcs11.module"
    run_jpki en doctor --module "$MODULE"; expect_rc 6
    expect_line out "[info] $HOME/.config/pkcs11/modules/jpki-pkcs11.module names the module, but p11-kit does not read ~/.config/pkcs11 for root."
    expect_line out "[action] The module is not registered with p11-kit (GnuTLS programs and p11-kit-proxy do not see it)."
    expect_line out "  Fix: mkdir -p $P11KIT_CONFIGS && echo 'module: $MODULE' > $P11KIT_CONFIGS/jpki-pkcs11.module"
    expect_no_text out "[ok] Registered with p11-kit"
    run_jpki ja doctor --module "$MODULE"; expect_rc 6
    expect_line out "[情報] $HOME/.config/pkcs11/modules/jpki-pkcs11.module にモジュールが記載されていますが、root で実行するプログラムについては p11-kit は ~/.config/pkcs11 を読みません。"
    fix=$(grep -F '  Fix: mkdir' <<<"$(en "$JPKI" doctor --module "$MODULE")" | sed 's/^  Fix: //')
    eval "$fix" || fail "the fix failed: $fix"
    p11-kit list-modules 2>/dev/null | grep -qxF "jpki-pkcs11: $MODULE" || fail "p11-kit does not list the module after the fix"
    run_jpki en doctor --module "$MODULE"; expect_rc 0
    expect_line out "[ok] Registered with p11-kit: $P11KIT_CONFIGS/jpki-pkcs11.module" ;;
json-invalid-utf8)
    # Profile names come from profiles.ini and need not be UTF-8: replaced, never a crash.
    set_up
    printf '[Profile1]\nName=caf\xe9\nIsRelative=1\nPath=latin1\n' >>"$HOME/.mozilla/firefox/profiles.ini"
    run_jpki en doctor --json --module "$MODULE"; expect_rc 6
    expect_no_text err "json.exception"
    python3 - "$out" <<'PY' || fail "JSON: $out"
import json, sys
d = json.loads(sys.argv[1])
names = [x["description"] for x in d["nss_databases"] if x["path"].endswith("/latin1")]
assert names == ["Firefox profile caf\ufffd (~/.mozilla/firefox/latin1)"], names
PY
    ;;
not-a-module)
    set_up
    run_jpki en doctor --module /etc/passwd; expect_rc 6
    expect_line out "[action] /etc/passwd is not a PKCS#11 module (it is not an ELF shared library)."
    expect_line out "  Fix: give the path of jpki-pkcs11.so with --module PATH, or install the module: sudo cmake --install build (in the jpki-pkcs11 source tree, after building it)"
    expect_no_text out "[ok] Module file"
    expect_no_text out "jpki setup"
    run_jpki ja doctor --module /tmp; expect_rc 6
    expect_line out "[要対応] /tmp は PKCS#11 モジュールではありません（フォルダーです）。" ;;
damaged-db)
    FF=$HOME/.mozilla/firefox/abcd.default-esr
    head -c 4096 /dev/zero | tr '\0' x >"$FF/cert9.db"
    head -c 4096 /dev/zero | tr '\0' x >"$FF/key4.db"
    run_jpki en doctor --module "$MODULE"; expect_rc 6
    expect_line out "[action] Firefox profile default-esr (~/.mozilla/firefox/abcd.default-esr): modutil could not read it: the database in ~/.mozilla/firefox/abcd.default-esr is damaged (NSS cannot read it)"
    expect_line out "  Fix: move the damaged files aside: mv ~/.mozilla/firefox/abcd.default-esr/cert9.db ~/.mozilla/firefox/abcd.default-esr/cert9.db.broken && mv ~/.mozilla/firefox/abcd.default-esr/key4.db ~/.mozilla/firefox/abcd.default-esr/key4.db.broken, then start the program once (it makes new ones) and run jpki setup again; certificates imported into the old database must be imported again"
    expect_no_text out "Fix: jpki setup firefox"
    run_jpki ja doctor --module "$MODULE"; expect_rc 6
    expect_line out "[要対応] Firefox のプロファイル default-esr（~/.mozilla/firefox/abcd.default-esr）: modutil で読み取れませんでした: ~/.mozilla/firefox/abcd.default-esr のデータベースが壊れています（NSS が読み取れません）" ;;
read-only)
    # jpki setup cannot add the module to a read-only database: the fix is its owner/permissions.
    FF=$HOME/.mozilla/firefox/abcd.default-esr
    if [ "$(id -u)" = 0 ]; then
        mount --bind "$FF" "$FF" && mount -o remount,bind,ro "$FF" "$FF" || fail "read-only bind mount"
    else
        chmod a-w "$FF" "$FF"/*.db "$FF/pkcs11.txt"
    fi
    run_jpki en doctor --module "$MODULE"; expect_rc 6
    [ "$(id -u)" = 0 ] || chmod u+w "$FF" "$FF"/*.db "$FF/pkcs11.txt"
    expect_line out "[action] Firefox profile default-esr (~/.mozilla/firefox/abcd.default-esr): module not loaded, and jpki setup cannot add it: the database in ~/.mozilla/firefox/abcd.default-esr cannot be written (read-only: the folder or its files belong to another user, or have no write permission)."
    expect_line out "  Fix: check the owner and permissions: ls -ld ~/.mozilla/firefox/abcd.default-esr ~/.mozilla/firefox/abcd.default-esr/*.db; if they are not yours: sudo chown -R \$USER ~/.mozilla/firefox/abcd.default-esr"
    expect_no_text out "Fix: jpki setup firefox"
    [ "$(id -u)" != 0 ] || { run_jpki ja doctor --module "$MODULE"; expect_rc 6
        expect_line out "[要対応] Firefox のプロファイル default-esr（~/.mozilla/firefox/abcd.default-esr）: モジュールが登録されておらず、jpki setup でも追加できません: ~/.mozilla/firefox/abcd.default-esr のデータベースに書き込めません（読み取り専用です: フォルダーやファイルの所有者が別のユーザーであるか、書き込み権限がありません）。"; } ;;
missing-profile-folder)
    # doctor and setup say the same of a profile whose folder is gone.
    printf '[Profile1]\nName=gone\nIsRelative=1\nPath=gone.default\n' >>"$HOME/.mozilla/firefox/profiles.ini"
    run_jpki en doctor --module "$MODULE"; expect_rc 6
    expect_line out "[info] Firefox profile gone (~/.mozilla/firefox/gone.default): the profile folder does not exist (remove the profile from profiles.ini, or create it by starting the program)."
    run_jpki ja doctor --module "$MODULE"; expect_rc 6
    expect_line out "[情報] Firefox のプロファイル gone（~/.mozilla/firefox/gone.default）: プロファイルのフォルダーがありません（profiles.ini からそのプロファイルを削除するか、プログラムを起動して作成してください）。" ;;
pki-is-a-file)
    # ~/.pki a file: jpki setup chrome would fail; the fix moves the file first.
    touch "$HOME/.pki"
    run_jpki en doctor --module "$MODULE"; expect_rc 6
    expect_line out "[action] Chrome/Chromium (~/.pki/nssdb): no certificate database, and it cannot be made: ~/.pki is a file, not a folder."
    expect_line out "  Fix: mv ~/.pki ~/.pki.old && jpki setup chrome --module $MODULE"
    run_jpki ja doctor --module "$MODULE"; expect_rc 6
    expect_line out "[要対応] Chrome/Chromium（~/.pki/nssdb）: 証明書データベースがなく、作成もできません: ~/.pki がフォルダーではなくファイルです。" ;;
*) fail "unknown case $1" ;;
esac
