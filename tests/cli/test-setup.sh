#!/usr/bin/env bash
# `jpki setup` (issue 8) on scratch Firefox, Thunderbird, Chrome and LibreOffice NSS databases
# under a scratch HOME (databases made with NSS's certutil, read back with modutil -list): module
# added exactly once, second run idempotent (pkcs11.txt unchanged), --undo, refusal while the
# program runs (a process named firefox, a live profile lock), LibreOffice's folder setting and
# its fallback profile, a module under another name, a missing module file, a file that is no
# module (refused before anything changes), a failed re-setup keeping the old registration,
# read-only and damaged databases and an uncreatable ~/.pki/nssdb explained with their fix, a
# profiles.ini profile without Path= and a missing profile folder reported; that a process
# named thunderbird sees both of the card's tokens through a database `jpki setup` prepared; and
# --trust (issue 10): the J-LIS signing CA (JPKI_CA_DIR: the test PKI's) imported with trust
# ",C," (signatures only), idempotent, removed by --undo --trust, refused while the program runs
# and when there is no CA file. e2e.pdfsig shows pdfsig trusting a signature after it.
# Issue 10's new-user test: --undo --trust removes every CA jpki setup imported (by its nickname),
# whatever the CA folder holds now; a sign_ca_*.pem that is no CA certificate, or is the
# authentication CA, is refused before anything changes; `setup libreoffice --undo` leaves the
# Thunderbird profile it falls back to as it is, and says how to undo it for both; the Japanese
# lines are sentences, not clauses joined by an ASCII "; ".
source "$(dirname "$0")/lib.sh"
cases=(firefox-en firefox-ja idempotent undo-en undo-ja thunderbird chrome-creates-db
       running-process-en running-process-ja running-lock stale-lock libreoffice-certdir
       libreoffice-fallback other-name module-missing nothing-found-ja thunderbird-sees-both-tokens
       help-en help-ja usage tools-missing not-a-module-en not-a-module-ja resetup-keeps-old read-only-en
       read-only-ja damaged-db pki-is-a-file profile-without-path missing-profile-folder
       libreoffice-certdir-gone-ja trust-en trust-ja trust-running trust-no-ca trust-undo-any-folder-en
       trust-undo-any-folder-ja trust-not-a-ca-en trust-not-a-ca-ja libreoffice-undo-shared-en
       libreoffice-undo-shared-ja)
[ "${1:-}" = --list ] && { printf '%s\n' "${cases[@]}"; exit 0; }
command -v modutil >/dev/null && command -v certutil >/dev/null || { echo "SKIP: libnss3-tools not installed"; exit 77; }

MODULE=$build/jpki-pkcs11.so
[ -r "$MODULE" ] || fail "module not built: $MODULE"
NAME='My Number Card (JPKI)'
work=$(mktemp -d "${TMPDIR:-/tmp}/jpki-setup.XXXXXX") || fail mktemp
pids=()
cleanup() {
    local pid
    for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
# The test's HOME; nothing of the real user's is read or written. No pcscd is needed to add the
# module (modutil loads it; it finds no reader).
export HOME=$work/home
unset XDG_CONFIG_HOME MOZILLA_CERTIFICATE_FOLDER JPKI_PKCS11_SLOTS
export PCSCLITE_CSOCK_NAME=${PCSCLITE_CSOCK_NAME:-$work/no-pcscd.comm}
mkdir -p "$HOME"

new_db() { mkdir -p "$1" && certutil -N -d "sql:$1" --empty-password || fail "certutil -N $1"; }
# Two Firefox profiles: one relative to profiles.ini (the default), one by absolute path.
firefox_profiles() {
    local ff=$HOME/.mozilla/firefox
    new_db "$ff/abcd.default-esr"
    new_db "$HOME/elsewhere/work"
    cat >"$ff/profiles.ini" <<INI
[Install4F96D1932A9F858E]
Default=abcd.default-esr
Locked=1

[Profile1]
Name=work
IsRelative=0
Path=$HOME/elsewhere/work

[Profile0]
Name=default-esr
IsRelative=1
Path=abcd.default-esr
Default=1

[General]
StartWithLastProfile=1
Version=2
INI
}
thunderbird_profile() {
    new_db "$HOME/.thunderbird/wxyz.default"
    printf '[Profile0]\nName=default\nIsRelative=1\nPath=wxyz.default\nDefault=1\n' >"$HOME/.thunderbird/profiles.ini"
}
# count DIR: how many modules of DIR's NSS database are named $NAME, and how many load $MODULE.
count() { modutil -dbdir "sql:$1" -list 2>/dev/null | grep -cxF "  2. $NAME" ; }
loads() { modutil -dbdir "sql:$1" -list 2>/dev/null | grep -cF "library name: $MODULE"; }
expect_once() {
    [ "$(count "$1")" = 1 ] || fail "$1: module '$NAME' not listed exactly once: $(modutil -dbdir "sql:$1" -list 2>&1)"
    [ "$(loads "$1")" = 1 ] || fail "$1: $MODULE not loaded exactly once"
}
expect_none() { [ "$(loads "$1")" = 0 ] || fail "$1: the module is still there"; }
# A process whose /proc/PID/comm is NAME (a copy of sleep), running with this HOME.
start_named() {
    mkdir -p "$work/bin"
    cp /bin/sleep "$work/bin/$1"
    "$work/bin/$1" 300 &
    pids+=($!)
    named_pid=$!
    local i
    for i in $(seq 100); do [ "$(cat /proc/$named_pid/comm 2>/dev/null)" = "$1" ] && return 0; sleep 0.05; done
    fail "process $1 did not start"
}
FF=$HOME/.mozilla/firefox/abcd.default-esr
WORK=$HOME/elsewhere/work

# The test signature CA as the shipped data names it; the nickname jpki setup gives it.
ca_dir() { mkdir -p "$work/ca" && cp "$repo/tests/pki/sign-ca.pem" "$work/ca/sign_ca_test.pem" && export JPKI_CA_DIR=$work/ca; }
CA_NICK='J-LIS signing CA test (jpki setup)'
# trust_of DIR: the CA's trust flags in DIR's database ("" when it is not there).
trust_of() { certutil -L -d "sql:$1" 2>/dev/null | sed -n "s/^$CA_NICK  *\([^ ]*\) *\$/\1/p"; }

case ${1:?case} in
firefox-en)
    firefox_profiles
    run_jpki en setup firefox --module "$MODULE"; expect_rc 0
    expect_line out "Firefox profile work (~/elsewhere/work): module added"
    expect_line out "Firefox profile default-esr (~/.mozilla/firefox/abcd.default-esr): module added"
    expect_once "$FF"; expect_once "$WORK" ;;
firefox-ja)
    firefox_profiles
    run_jpki ja setup firefox --module "$MODULE"; expect_rc 0
    expect_line out "Firefox のプロファイル work（~/elsewhere/work）: モジュールを追加しました"
    expect_line out "Firefox のプロファイル default-esr（~/.mozilla/firefox/abcd.default-esr）: モジュールを追加しました"
    expect_once "$FF"; expect_once "$WORK" ;;
idempotent)
    firefox_profiles
    run_jpki en setup firefox --module "$MODULE"; expect_rc 0
    before=$(sha256sum "$FF/pkcs11.txt" "$WORK/pkcs11.txt")
    run_jpki en setup firefox --module "$MODULE"; expect_rc 0
    expect_line out "Firefox profile default-esr (~/.mozilla/firefox/abcd.default-esr): already set up"
    expect_line out "Firefox profile work (~/elsewhere/work): already set up"
    [ "$(sha256sum "$FF/pkcs11.txt" "$WORK/pkcs11.txt")" = "$before" ] || fail "the second run changed a database"
    run_jpki ja setup firefox --module "$MODULE"; expect_rc 0
    expect_line out "Firefox のプロファイル work（~/elsewhere/work）: 設定済みです"
    expect_once "$FF"; expect_once "$WORK" ;;
undo-en|undo-ja)
    firefox_profiles
    run_jpki en setup firefox --module "$MODULE"; expect_rc 0
    lang=${1#undo-}
    run_jpki "$lang" setup firefox --undo; expect_rc 0
    if [ "$lang" = en ]; then
        expect_line out "Firefox profile default-esr (~/.mozilla/firefox/abcd.default-esr): module removed"
    else
        expect_line out "Firefox のプロファイル default-esr（~/.mozilla/firefox/abcd.default-esr）: モジュールを削除しました"
    fi
    expect_none "$FF"; expect_none "$WORK"
    run_jpki "$lang" setup firefox --undo; expect_rc 0
    if [ "$lang" = en ]; then
        expect_line out "Firefox profile work (~/elsewhere/work): not set up: nothing to remove"
    else
        expect_line out "Firefox のプロファイル work（~/elsewhere/work）: 設定されていません: 削除するものはありません"
    fi ;;
trust-en)
    ca_dir; thunderbird_profile
    run_jpki en setup thunderbird --trust --module "$MODULE"; expect_rc 0
    expect_line out "Thunderbird profile default (~/.thunderbird/wxyz.default): module added; J-LIS signing CA trusted for signatures (test)"
    expect_once "$HOME/.thunderbird/wxyz.default"
    [ "$(trust_of "$HOME/.thunderbird/wxyz.default")" = ',C,' ] || fail "trust flags: $(certutil -L -d "sql:$HOME/.thunderbird/wxyz.default")"
    before=$(sha256sum "$HOME/.thunderbird/wxyz.default/cert9.db")
    run_jpki en setup thunderbird --trust --module "$MODULE"; expect_rc 0
    expect_line out "Thunderbird profile default (~/.thunderbird/wxyz.default): already set up; J-LIS signing CA already trusted (test)"
    [ "$(sha256sum "$HOME/.thunderbird/wxyz.default/cert9.db")" = "$before" ] || fail "the second run changed the database"
    # Trust changed by hand (e.g. also for TLS servers) is set back to signatures only.
    certutil -M -d "sql:$HOME/.thunderbird/wxyz.default" -n "$CA_NICK" -t 'C,C,C' || fail "certutil -M"
    run_jpki en setup thunderbird --trust --module "$MODULE"; expect_rc 0
    expect_line out "Thunderbird profile default (~/.thunderbird/wxyz.default): already set up; J-LIS signing CA trusted for signatures (test)"
    [ "$(trust_of "$HOME/.thunderbird/wxyz.default")" = ',C,' ] || fail "trust not set back to ,C,"
    run_jpki en setup thunderbird --undo --trust; expect_rc 0
    expect_line out "Thunderbird profile default (~/.thunderbird/wxyz.default): module removed; J-LIS signing CA no longer trusted (test)"
    [ -z "$(trust_of "$HOME/.thunderbird/wxyz.default")" ] || fail "the CA is still there"
    expect_none "$HOME/.thunderbird/wxyz.default"
    run_jpki en setup thunderbird --undo --trust; expect_rc 0
    expect_line out "Thunderbird profile default (~/.thunderbird/wxyz.default): not set up: nothing to remove; J-LIS signing CA not trusted by jpki setup: nothing to remove"
    # Without --trust, the CA is neither added nor removed.
    run_jpki en setup thunderbird --module "$MODULE"; expect_rc 0
    [ -z "$(trust_of "$HOME/.thunderbird/wxyz.default")" ] || fail "the CA was added without --trust" ;;
trust-ja)
    ca_dir; firefox_profiles
    run_jpki ja setup firefox --trust --module "$MODULE"; expect_rc 0
    expect_line out "Firefox のプロファイル default-esr（~/.mozilla/firefox/abcd.default-esr）: モジュールを追加しました。J-LIS の署名用の認証局を署名の確認用に信頼しました（test）"
    [ "$(trust_of "$FF")" = ',C,' ] || fail "trust flags in $FF"
    [ "$(trust_of "$WORK")" = ',C,' ] || fail "trust flags in $WORK"
    run_jpki ja setup firefox --trust --module "$MODULE"; expect_rc 0
    expect_line out "Firefox のプロファイル work（~/elsewhere/work）: 設定済みです。J-LIS の署名用の認証局は信頼済みです（test）"
    run_jpki ja setup firefox --undo --trust; expect_rc 0
    expect_line out "Firefox のプロファイル work（~/elsewhere/work）: モジュールを削除しました。J-LIS の署名用の認証局の信頼を取り消しました（test）"
    [ -z "$(trust_of "$WORK")" ] || fail "the CA is still in $WORK" ;;
trust-running)
    ca_dir; thunderbird_profile
    start_named thunderbird
    run_jpki en setup thunderbird --trust --module "$MODULE"; expect_rc 8
    expect_line err "  Thunderbird is running: thunderbird (process $named_pid)"
    [ -z "$(trust_of "$HOME/.thunderbird/wxyz.default")" ] || fail "the CA was added while Thunderbird runs" ;;
trust-no-ca)
    thunderbird_profile
    mkdir -p "$work/empty"
    JPKI_CA_DIR=$work/empty run_jpki en setup thunderbird --trust --module "$MODULE"; expect_rc 8
    expect_line err "No J-LIS signing CA certificates (sign_ca_*.pem) in $work/empty; nothing was changed."
    JPKI_CA_DIR=$work/empty run_jpki ja setup thunderbird --trust --module "$MODULE"; expect_rc 8
    expect_line err "$work/empty に J-LIS の署名用の認証局の証明書（sign_ca_*.pem）がありません。何も変更していません。"
    expect_none "$HOME/.thunderbird/wxyz.default" ;;
trust-undo-any-folder-en|trust-undo-any-folder-ja)
    # The CAs imported earlier from another folder (the shipped J-LIS ones) go too; a CA the
    # holder imported under their own name stays.
    thunderbird_profile
    TB=$HOME/.thunderbird/wxyz.default
    JPKI_CA_DIR=$repo/src/cli/jpki-ca run_jpki en setup thunderbird --trust --module "$MODULE"; expect_rc 0
    expect_line out "Thunderbird profile default (~/.thunderbird/wxyz.default): module added; J-LIS signing CA trusted for signatures (2015, 2023)"
    ca_dir
    run_jpki en setup thunderbird --trust --module "$MODULE"; expect_rc 0
    certutil -A -d "sql:$TB" -n "Holder's own CA" -t ,C, -a -i "$repo/tests/pki/auth-ca.pem" || fail "certutil -A (own CA)"
    [ "$(certutil -L -d "sql:$TB" | grep -c '(jpki setup)')" = 3 ] || fail "set-up: $(certutil -L -d "sql:$TB")"
    if [ "$1" = trust-undo-any-folder-en ]; then
        # The current folder holds the test generation only.
        run_jpki en setup thunderbird --undo --trust; expect_rc 0
        expect_line out "Thunderbird profile default (~/.thunderbird/wxyz.default): module removed; J-LIS signing CA no longer trusted (2015, 2023, test)"
    else
        # No CA file is needed to undo.
        mkdir -p "$work/empty"
        JPKI_CA_DIR=$work/empty run_jpki ja setup thunderbird --undo --trust; expect_rc 0
        expect_line out "Thunderbird のプロファイル default（~/.thunderbird/wxyz.default）: モジュールを削除しました。J-LIS の署名用の認証局の信頼を取り消しました（2015, 2023, test）"
    fi
    listed=$(certutil -L -d "sql:$TB")
    out=$listed err=
    expect_no_text out "(jpki setup)"
    expect_text out "Holder's own CA"
    expect_none "$TB" ;;
trust-not-a-ca-en|trust-not-a-ca-ja)
    # A signing certificate (CA:FALSE) and the authentication CA (a CA, of the other hierarchy)
    # named like signing CAs: refused, naming the file, before any database changes.
    thunderbird_profile
    TB=$HOME/.thunderbird/wxyz.default
    before=$(sha256sum "$TB/cert9.db" "$TB/pkcs11.txt")
    for bad in sign-cert auth-ca; do
        rm -rf "$work/bad" && mkdir -p "$work/bad"
        cp "$repo/tests/pki/sign-ca.pem" "$work/bad/sign_ca_2023.pem"
        cp "$repo/tests/pki/$bad.pem" "$work/bad/sign_ca_x.pem"
        if [ "$1" = trust-not-a-ca-en ]; then
            JPKI_CA_DIR=$work/bad run_jpki en setup thunderbird --trust --module "$MODULE"; expect_rc 8
            case $bad in
            sign-cert) why="it is not a CA certificate (it needs basicConstraints CA:TRUE and keyUsage keyCertSign)" ;;
            auth-ca) why="it is the J-LIS authentication CA (OU=JPKI for user authentication), not the signing CA" ;;
            esac
            expect_line err "$work/bad/sign_ca_x.pem cannot be trusted as a J-LIS signing CA: $why. Nothing was changed."
            expect_line err "  Fix: remove it from $work/bad, or set JPKI_CA_DIR to a folder of J-LIS signing CA certificates only."
        else
            JPKI_CA_DIR=$work/bad run_jpki ja setup thunderbird --trust --module "$MODULE"; expect_rc 8
            case $bad in
            sign-cert) why="CA 証明書ではありません（basicConstraints CA:TRUE と keyUsage keyCertSign が必要です）" ;;
            auth-ca) why="署名用ではなく、J-LIS の利用者証明用の認証局です（OU=JPKI for user authentication）" ;;
            esac
            expect_line err "$work/bad/sign_ca_x.pem は J-LIS の署名用の認証局として信頼できません: $why。何も変更していません。"
        fi
    done
    [ "$(sha256sum "$TB/cert9.db" "$TB/pkcs11.txt")" = "$before" ] || fail "a refused CA file changed the database"
    expect_none "$TB"
    # The shipped CA certificates pass the check.
    JPKI_CA_DIR=$repo/src/cli/jpki-ca run_jpki en setup thunderbird --trust --module "$MODULE"; expect_rc 0
    expect_line out "Thunderbird profile default (~/.thunderbird/wxyz.default): module added; J-LIS signing CA trusted for signatures (2015, 2023)" ;;
libreoffice-undo-shared-en|libreoffice-undo-shared-ja)
    # LibreOffice without a certificate folder uses Thunderbird's profile: undoing LibreOffice's
    # set-up alone would take the module and the CA from Thunderbird too.
    ca_dir; thunderbird_profile
    TB=$HOME/.thunderbird/wxyz.default
    run_jpki en setup thunderbird --trust --module "$MODULE"; expect_rc 0
    before=$(sha256sum "$TB/cert9.db" "$TB/pkcs11.txt")
    if [ "$1" = libreoffice-undo-shared-en ]; then
        run_jpki en setup libreoffice --undo --trust; expect_rc 0
        expect_line out "LibreOffice (no certificate folder set: it uses the Thunderbird profile default, ~/.thunderbird/wxyz.default): nothing removed: Thunderbird uses this profile too. To undo the set-up for both programs: jpki setup thunderbird --undo --trust"
        run_jpki en setup libreoffice --undo; expect_rc 0
        expect_line out "LibreOffice (no certificate folder set: it uses the Thunderbird profile default, ~/.thunderbird/wxyz.default): nothing removed: Thunderbird uses this profile too. To undo the set-up for both programs: jpki setup thunderbird --undo"
    else
        run_jpki ja setup libreoffice --undo --trust; expect_rc 0
        expect_line out "LibreOffice（証明書フォルダーが未設定のため、Thunderbird のプロファイル default を使用: ~/.thunderbird/wxyz.default）: 何も削除していません: Thunderbird もこのプロファイルを使っています。両方のプログラムの設定を解除するには: jpki setup thunderbird --undo --trust"
    fi
    [ "$(sha256sum "$TB/cert9.db" "$TB/pkcs11.txt")" = "$before" ] || fail "undoing LibreOffice changed Thunderbird's profile"
    expect_once "$TB"
    [ "$(trust_of "$TB")" = ',C,' ] || fail "the CA is gone from Thunderbird's profile"
    # Undoing both (all) does remove it, once.
    run_jpki en setup all --undo --trust; expect_rc 0
    expect_line out "Thunderbird profile default (~/.thunderbird/wxyz.default): module removed; J-LIS signing CA no longer trusted (test)"
    expect_none "$TB"
    [ -z "$(trust_of "$TB")" ] || fail "the CA is still there after setup all --undo --trust" ;;
thunderbird)
    thunderbird_profile
    run_jpki en setup thunderbird --module "$MODULE"; expect_rc 0
    expect_line out "Thunderbird profile default (~/.thunderbird/wxyz.default): module added"
    expect_once "$HOME/.thunderbird/wxyz.default" ;;
chrome-creates-db)
    run_jpki en setup chrome --module "$MODULE"; expect_rc 0
    expect_line out "Chrome/Chromium (~/.pki/nssdb): database created, module added"
    [ -f "$HOME/.pki/nssdb/cert9.db" ] || fail "no cert9.db in ~/.pki/nssdb"
    [ "$(stat -c %a "$HOME/.pki/nssdb")" = 700 ] || fail "~/.pki/nssdb is not private"
    expect_once "$HOME/.pki/nssdb"
    run_jpki ja setup chrome --module "$MODULE"; expect_rc 0
    expect_line out "Chrome/Chromium（~/.pki/nssdb）: 設定済みです" ;;
running-process-en|running-process-ja)
    firefox_profiles
    start_named firefox
    if [ "$1" = running-process-en ]; then
        run_jpki en setup firefox --module "$MODULE"; expect_rc 8
        expect_line err "Close these programs first (their NSS databases must not change while they run); nothing was changed:"
        expect_line err "  Firefox is running: firefox (process $named_pid)"
    else
        run_jpki ja setup firefox --module "$MODULE"; expect_rc 8
        expect_line err "先に次のプログラムを終了してください（起動中は NSS データベースを変更できません）。何も変更していません:"
        expect_line err "  Firefox が起動しています: firefox（プロセス $named_pid）"
    fi
    expect_none "$FF"; expect_none "$WORK"
    # A firefox of another HOME uses other profiles: it does not count.
    kill "$named_pid"; wait "$named_pid" 2>/dev/null
    HOME=$work/other start_named firefox
    run_jpki en setup firefox --module "$MODULE"; expect_rc 0
    expect_once "$FF" ;;
running-lock)
    firefox_profiles
    ln -s "127.0.1.1:+$$" "$FF/lock"
    run_jpki en setup all --module "$MODULE"; expect_rc 8
    expect_line err "  Firefox is running: lock ~/.mozilla/firefox/abcd.default-esr/lock (process $$)"
    expect_none "$FF"; expect_none "$WORK"
    [ ! -e "$HOME/.pki/nssdb" ] || fail "~/.pki/nssdb was created although set-up was refused" ;;
stale-lock)
    firefox_profiles
    sleep 0 & gone=$!; wait "$gone"
    ln -s "127.0.1.1:+$gone" "$FF/lock"
    run_jpki en setup firefox --module "$MODULE"; expect_rc 0
    expect_once "$FF" ;;
libreoffice-certdir)
    firefox_profiles
    new_db "$HOME/lo-nss"
    mkdir -p "$HOME/.config/libreoffice/4/user"
    cat >"$HOME/.config/libreoffice/4/user/registrymodifications.xcu" <<XCU
<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Misc"><prop oor:name="FirstRun" oor:op="fuse"><value>false</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="CertDir" oor:op="fuse"><value>$HOME/lo-nss</value></prop></item>
</oor:items>
XCU
    run_jpki en setup libreoffice --module "$MODULE"; expect_rc 0
    expect_line out "LibreOffice (certificate folder ~/lo-nss, from its Certificate Path setting): module added"
    expect_once "$HOME/lo-nss"; expect_none "$FF"
    run_jpki ja setup libreoffice --module "$MODULE"; expect_rc 0
    expect_line out "LibreOffice（証明書フォルダー ~/lo-nss、「証明書のパス」の設定による）: 設定済みです"
    # MOZILLA_CERTIFICATE_FOLDER comes first (LibreOffice started from this environment uses it).
    new_db "$HOME/env-nss"
    MOZILLA_CERTIFICATE_FOLDER=sql:$HOME/env-nss run_jpki en setup libreoffice --module "$MODULE"; expect_rc 0
    expect_line out "LibreOffice (certificate folder ~/env-nss, from MOZILLA_CERTIFICATE_FOLDER): module added"
    expect_once "$HOME/env-nss"
    # A setting naming a folder that is gone: LibreOffice falls back to a profile, and so do we.
    rm -rf "$HOME/lo-nss"
    run_jpki en setup libreoffice --module "$MODULE"; expect_rc 0
    expect_line out "LibreOffice (the certificate folder set in LibreOffice, ~/lo-nss, does not exist: it uses the Firefox profile default-esr, ~/.mozilla/firefox/abcd.default-esr): module added" ;;
libreoffice-certdir-gone-ja)
    mkdir -p "$HOME/.config/libreoffice/4/user"
    printf '<oor:items xmlns:oor="http://openoffice.org/2001/registry"><item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="CertDir" oor:op="fuse"><value>%s</value></prop></item></oor:items>\n' \
        "$HOME/lo-nss" >"$HOME/.config/libreoffice/4/user/registrymodifications.xcu"
    run_jpki en setup libreoffice --module "$MODULE"; expect_rc 8
    expect_line err "LibreOffice: the certificate folder set in LibreOffice (~/lo-nss) does not exist, and there is no Thunderbird or Firefox profile to fall back to. Create that folder with its database (certutil -N -d sql:~/lo-nss --empty-password), or choose another in Tools > Options > LibreOffice > Security > Certificate Path."
    firefox_profiles
    run_jpki ja setup libreoffice --module "$MODULE"; expect_rc 0
    expect_line out "LibreOffice（LibreOffice に設定された証明書フォルダー ~/lo-nss が存在しないため、Firefox のプロファイル default-esr を使用: ~/.mozilla/firefox/abcd.default-esr）: モジュールを追加しました" ;;
libreoffice-fallback)
    firefox_profiles
    run_jpki en setup libreoffice --module "$MODULE"; expect_rc 0
    expect_line out "LibreOffice (no certificate folder set: it uses the Firefox profile default-esr, ~/.mozilla/firefox/abcd.default-esr): module added"
    expect_once "$FF"; expect_none "$WORK"
    # Thunderbird's default profile comes first, as in LibreOffice.
    thunderbird_profile
    run_jpki ja setup libreoffice --module "$MODULE"; expect_rc 0
    expect_line out "LibreOffice（証明書フォルダーが未設定のため、Thunderbird のプロファイル default を使用: ~/.thunderbird/wxyz.default）: モジュールを追加しました"
    # LibreOffice running blocks its database, and so does the Firefox using that profile.
    start_named soffice.bin
    run_jpki en setup libreoffice --undo; expect_rc 8
    expect_line err "  LibreOffice is running: soffice.bin (process $named_pid)" ;;
other-name)
    firefox_profiles
    modutil -dbdir "sql:$FF" -add "JPKI My Number Card" -libfile "$MODULE" -force >/dev/null 2>&1 || fail "modutil -add"
    run_jpki en setup firefox --module "$MODULE"; expect_rc 0
    expect_line out "Firefox profile default-esr (~/.mozilla/firefox/abcd.default-esr): the module is already loaded under another name, 'JPKI My Number Card'; nothing added (to use the usual name: modutil -dbdir 'sql:$FF' -delete 'JPKI My Number Card' -force, then run this again)"
    [ "$(loads "$FF")" = 1 ] || fail "a second module was added"
    [ "$(count "$FF")" = 0 ] || fail "added under the usual name too"
    run_jpki ja setup firefox --undo; expect_rc 0
    expect_line out "  モジュールは「JPKI My Number Card」という名前でも登録されています（jpki setup による登録ではありません）。削除するには: modutil -dbdir 'sql:$FF' -delete 'JPKI My Number Card' -force" ;;
module-missing)
    firefox_profiles
    run_jpki en setup firefox --module "$work/nowhere/jpki-pkcs11.so"; expect_rc 8
    expect_line err "The module file $work/nowhere/jpki-pkcs11.so does not exist."
    expect_line err "  Fix: build it (cmake --build build) or give its path with --module PATH."
    run_jpki ja setup firefox --module "$work/nowhere/jpki-pkcs11.so"; expect_rc 8
    expect_line err "モジュールファイル $work/nowhere/jpki-pkcs11.so がありません。"
    expect_none "$FF" ;;
nothing-found-ja)
    run_jpki ja setup thunderbird --module "$MODULE"; expect_rc 8
    expect_line err "Thunderbird のプロファイルが見つかりません（~/.thunderbird/profiles.ini を確認しました）。"
    run_jpki en setup firefox --module "$MODULE"; expect_rc 8
    expect_line err "No Firefox profile found (looked in ~/.mozilla/firefox/profiles.ini)." ;;
thunderbird-sees-both-tokens)
    # Thunderbird signs mail with the signature token: a process named thunderbird lists the
    # signature token's certificate (its CA certificate needs no password), one named firefox
    # does not (issue 8).
    thunderbird_profile
    run_jpki en setup thunderbird --module "$MODULE"; expect_rc 0
    mkdir -p "$work/bin"
    ln -s "$(command -v certutil)" "$work/bin/thunderbird"
    ln -s "$(command -v certutil)" "$work/bin/firefox"
    TB=$HOME/.thunderbird/wxyz.default
    bash "$WITH_VCARD" -- bash -c "
        unset JPKI_PKCS11_SLOTS
        '$work/bin/thunderbird' -L -d 'sql:$TB' -h all >'$work/thunderbird.out' 2>&1
        '$work/bin/firefox' -L -d 'sql:$TB' -h all >'$work/firefox.out' 2>&1
    " >"$work/with-vcard.log" 2>&1 || { cat "$work/with-vcard.log" >&2; fail "with-vcard failed"; }
    out=$(cat "$work/thunderbird.out") err=
    expect_text out "JPKI (Digital Signature PIN):Digital Signature Certificate CA"
    expect_text out "JPKI (User Authentication PIN):User Authentication Certificate"
    out=$(cat "$work/firefox.out")
    expect_text out "JPKI (User Authentication PIN):User Authentication Certificate"
    expect_no_text out "JPKI (Digital Signature PIN)" ;;
help-en)
    run_jpki en setup --help; expect_rc 0
    expect_line out "Usage: jpki setup firefox|thunderbird|chrome|libreoffice|all [--trust] [--undo] [--module PATH]"
    expect_line out "  --trust        also trust the J-LIS signing CA (for signatures only), so that"
    expect_line out "  --undo         remove the module instead (with --trust: and that CA)" ;;
help-ja)
    run_jpki ja setup --help; expect_rc 0
    expect_line out "使い方: jpki setup firefox|thunderbird|chrome|libreoffice|all [--trust] [--undo] [--module パス]"
    expect_line out "  --undo         登録を解除します（--trust と一緒なら、その認証局の信頼も）" ;;
usage)
    run_jpki en setup opera; expect_rc 2
    expect_line err "jpki setup: unknown program 'opera' (one of: firefox, thunderbird, chrome, libreoffice, all)"
    run_jpki ja setup opera; expect_rc 2
    expect_line err "jpki setup: 「opera」というプログラムには対応していません（firefox、thunderbird、chrome、libreoffice、all のいずれか）"
    run_jpki en setup; expect_rc 2 ;;
tools-missing)
    # Only what lib.sh's run_jpki itself needs is on PATH: no modutil.
    firefox_profiles
    mkdir -p "$work/path"
    for tool in env mktemp cat rm; do ln -s "$(command -v $tool)" "$work/path/$tool"; done
    PATH=$work/path run_jpki en setup firefox --module "$MODULE"; expect_rc 1
    expect_line err "modutil is not installed (NSS's tools change the databases)."
    expect_line err "  Fix: sudo apt install libnss3-tools"
    PATH=$work/path run_jpki ja setup firefox --module "$MODULE"; expect_rc 1
    expect_line err "modutil がインストールされていません（データベースの変更には NSS のツールを使います）。"
    expect_none "$FF" ;;
not-a-module-en|not-a-module-ja)
    # Refused before any database changes: the working registration stays (issue 8 break test).
    run_jpki en setup chrome --module "$MODULE"; expect_rc 0
    before=$(sha256sum "$HOME/.pki/nssdb/pkcs11.txt")
    for file in /etc/passwd /tmp /dev/null; do
        case $file in /etc/passwd) why_en="it is not an ELF shared library" why_ja="ELF 形式の共有ライブラリではありません" ;;
                      /tmp) why_en="it is a folder" why_ja="フォルダーです" ;;
                      /dev/null) why_en="it is not a regular file" why_ja="通常のファイルではありません" ;; esac
        if [ "$1" = not-a-module-en ]; then
            run_jpki en setup chrome --module "$file"; expect_rc 8
            expect_line err "$file is not a PKCS#11 module ($why_en); nothing was changed."
            expect_line err "  Fix: give the path of jpki-pkcs11.so with --module PATH."
        else
            run_jpki ja setup chrome --module "$file"; expect_rc 8
            expect_line err "$file は PKCS#11 モジュールではありません（$why_ja）。何も変更していません。"
            expect_line err "  対処: --module パス で jpki-pkcs11.so のパスを指定してください。"
        fi
    done
    [ "$(sha256sum "$HOME/.pki/nssdb/pkcs11.txt")" = "$before" ] || fail "a refused module changed the database"
    expect_once "$HOME/.pki/nssdb" ;;
resetup-keeps-old)
    # An ELF shared library that is no PKCS#11 module passes the file check; modutil refuses it
    # after the old registration was deleted, and the old one comes back.
    command -v cc >/dev/null || { echo "SKIP: no C compiler to make a non-PKCS#11 library"; exit 77; }
    cc -shared -fPIC -x c /dev/null -o "$work/not-pkcs11.so" || fail "cc -shared"
    run_jpki en setup chrome --module "$MODULE"; expect_rc 0
    run_jpki en setup chrome --module "$work/not-pkcs11.so"; expect_rc 1
    expect_line out "Chrome/Chromium (~/.pki/nssdb): failed: the NSS tool reported: $work/not-pkcs11.so: undefined symbol: C_GetFunctionList; the module file registered before ($MODULE) is kept"
    expect_once "$HOME/.pki/nssdb"
    run_jpki ja setup chrome --module "$work/not-pkcs11.so"; expect_rc 1
    expect_line out "Chrome/Chromium（~/.pki/nssdb）: 失敗しました: NSS のツールのメッセージ: $work/not-pkcs11.so: undefined symbol: C_GetFunctionList。以前登録されていたモジュールファイル（$MODULE）の登録はそのままです"
    expect_once "$HOME/.pki/nssdb" ;;
read-only-en|read-only-ja)
    # A database the user cannot write: as root (permissions do not bind root) a read-only bind
    # mount in a private mount namespace, else the files' write permission taken away.
    firefox_profiles
    printf '[Profile0]\nName=default-esr\nIsRelative=1\nPath=abcd.default-esr\n' >"$HOME/.mozilla/firefox/profiles.ini"
    lang=${1#read-only-}
    if [ "$(id -u)" = 0 ]; then
        unshare --mount true 2>/dev/null || { echo "SKIP: root without a mount namespace"; exit 77; }
        o=$work/o e=$work/e
        "$lang" unshare --mount sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && shift && exec "$@"' \
            sh "$FF" "$JPKI" setup firefox --module "$MODULE" >"$o" 2>"$e"
        rc=$?; out=$(cat "$o") err=$(cat "$e")
    else
        chmod a-w "$FF" "$FF"/*.db "$FF/pkcs11.txt"
        run_jpki "$lang" setup firefox --module "$MODULE"
        chmod u+w "$FF" "$FF"/*.db "$FF/pkcs11.txt"
    fi
    expect_rc 1
    if [ "$lang" = en ]; then
        expect_line out "Firefox profile default-esr (~/.mozilla/firefox/abcd.default-esr): failed: the database in ~/.mozilla/firefox/abcd.default-esr cannot be written (read-only: the folder or its files belong to another user, or have no write permission)"
        expect_line out "  Fix: check the owner and permissions: ls -ld ~/.mozilla/firefox/abcd.default-esr ~/.mozilla/firefox/abcd.default-esr/*.db; if they are not yours: sudo chown -R \$USER ~/.mozilla/firefox/abcd.default-esr"
    else
        expect_line out "Firefox のプロファイル default-esr（~/.mozilla/firefox/abcd.default-esr）: 失敗しました: ~/.mozilla/firefox/abcd.default-esr のデータベースに書き込めません（読み取り専用です: フォルダーやファイルの所有者が別のユーザーであるか、書き込み権限がありません）"
        expect_line out "  対処: 所有者と権限を確認してください: ls -ld ~/.mozilla/firefox/abcd.default-esr ~/.mozilla/firefox/abcd.default-esr/*.db 。ご自身の所有でなければ: sudo chown -R \$USER ~/.mozilla/firefox/abcd.default-esr"
    fi
    expect_no_text out SEC_ERROR
    expect_none "$FF" ;;
damaged-db)
    firefox_profiles
    head -c 4096 /dev/zero | tr '\0' x >"$FF/cert9.db"
    head -c 4096 /dev/zero | tr '\0' x >"$FF/key4.db"
    run_jpki en setup firefox --module "$MODULE"; expect_rc 1
    expect_line out "Firefox profile default-esr (~/.mozilla/firefox/abcd.default-esr): failed: the database in ~/.mozilla/firefox/abcd.default-esr is damaged (NSS cannot read it)"
    expect_line out "  Fix: move the damaged files aside: mv ~/.mozilla/firefox/abcd.default-esr/cert9.db ~/.mozilla/firefox/abcd.default-esr/cert9.db.broken && mv ~/.mozilla/firefox/abcd.default-esr/key4.db ~/.mozilla/firefox/abcd.default-esr/key4.db.broken, then start the program once (it makes new ones) and run jpki setup again; certificates imported into the old database must be imported again"
    expect_line out "Firefox profile work (~/elsewhere/work): module added"
    run_jpki ja setup firefox --module "$MODULE"; expect_rc 1
    expect_line out "Firefox のプロファイル default-esr（~/.mozilla/firefox/abcd.default-esr）: 失敗しました: ~/.mozilla/firefox/abcd.default-esr のデータベースが壊れています（NSS が読み取れません）"
    expect_no_text out SEC_ERROR ;;
pki-is-a-file)
    touch "$HOME/.pki"
    run_jpki en setup chrome --module "$MODULE"; expect_rc 1
    expect_line out "Chrome/Chromium (~/.pki/nssdb): failed: the folder ~/.pki/nssdb cannot be made (the system says: Not a directory)"
    expect_line out "  Fix: check each part of the path (one of them may be a file, or belong to another user): ls -ld ~/.pki ~/.pki/nssdb"
    run_jpki ja setup chrome --module "$MODULE"; expect_rc 1
    # The reason in brackets is the C library's own text (translated by it when it can).
    expect_text out "Chrome/Chromium（~/.pki/nssdb）: 失敗しました: フォルダー ~/.pki/nssdb を作成できません（システムのメッセージ: "
    expect_line out "  対処: パスの各部分を確認してください（どれかがファイルであるか、別のユーザーの所有になっている可能性があります）: ls -ld ~/.pki ~/.pki/nssdb"
    expect_no_text out "filesystem error" ;;
profile-without-path)
    firefox_profiles
    printf '\n[Profile2]\nName=broken\nIsRelative=1\n' >>"$HOME/.mozilla/firefox/profiles.ini"
    run_jpki en setup firefox --module "$MODULE"; expect_rc 0
    expect_line out "Firefox: the profile [Profile2] (Name=broken) in ~/.mozilla/firefox/profiles.ini has no Path= line: skipped (fix or remove that section)."
    run_jpki ja setup firefox --module "$MODULE"; expect_rc 0
    expect_line out "Firefox: ~/.mozilla/firefox/profiles.ini のプロファイル [Profile2] (Name=broken) には Path= の行がないため、スキップしました（その項目を修正するか削除してください）。" ;;
missing-profile-folder)
    firefox_profiles
    printf '\n[Profile2]\nName=gone\nIsRelative=1\nPath=gone.default\n' >>"$HOME/.mozilla/firefox/profiles.ini"
    run_jpki en setup firefox --module "$MODULE"; expect_rc 1
    expect_line out "Firefox profile gone (~/.mozilla/firefox/gone.default): the profile folder does not exist (remove the profile from profiles.ini, or create it by starting the program)"
    run_jpki ja setup firefox --module "$MODULE"; expect_rc 1
    expect_line out "Firefox のプロファイル gone（~/.mozilla/firefox/gone.default）: プロファイルのフォルダーがありません（profiles.ini からそのプロファイルを削除するか、プログラムを起動して作成してください）" ;;
*) fail "unknown case $1" ;;
esac
