#!/usr/bin/env bash
# Tests of with-vcard.sh itself: the card is reachable through pcscd, COMMAND's exit status
# comes back, and nothing it started is left running afterwards — after a normal end, after
# SIGTERM to the script, for a user other than root, and after the control command removed and
# inserted cards and restarted pcscd. The private pcscd writes its pid file into the scratch
# /run, never into the system's /run/pcscd (so a system pcscd, if any, is untouched).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
with_vcard="$here/with-vcard.sh"
work=$(mktemp -d)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# Asserts that the processes and scratch folder recorded in $1 are gone.
assert_nothing_left() {
    local record=$1 what=$2 pcscd vcard dir
    read -r pcscd vcard dir <"$record" || { fail "$what: nothing recorded"; return; }
    kill -0 "$pcscd" 2>/dev/null && fail "$what: pcscd ($pcscd) still running"
    kill -0 "$vcard" 2>/dev/null && fail "$what: jpki-vcard ($vcard) still running"
    [ -e "$dir" ] && fail "$what: scratch folder $dir left behind"
    return 0
}
record='echo "$WITH_VCARD_PCSCD_PID $WITH_VCARD_VCARD_PID $WITH_VCARD_DIR" >"$0"'

# Where the private pcscd put its pid file, seen while it runs: $0.pids gets the pid read from
# the scratch /run, then the one read from the system's /run, a line each ("absent": no file).
pid_files='printf "%s\n" "$(tr -dc 0-9 2>/dev/null <"$WITH_VCARD_DIR/run/pcscd/pcscd.pid" || echo absent)" \
    "$(tr -dc 0-9 2>/dev/null </run/pcscd/pcscd.pid || echo absent)" >"$0.pids"'

# Asserts that the private pcscd recorded in $1 wrote its pid into the scratch /run and not into
# the system's. Only our own pcscd's pid is compared: the system's pcscd (or another test's
# fixture without a namespace) may come and go meanwhile, which is not this fixture's doing.
assert_private_pid_file() {
    local record=$1 what=$2 pcscd scratch system
    read -r pcscd _ <"$record" || return 0   # already reported by assert_nothing_left
    { read -r scratch && read -r system; } <"$record.pids" || { fail "$what: pid files not recorded"; return; }
    [ "$scratch" = "$pcscd" ] ||
        fail "$what: the scratch /run/pcscd/pcscd.pid holds '$scratch', expected the private pcscd's $pcscd"
    [ "$system" != "$pcscd" ] || fail "$what: the private pcscd ($pcscd) wrote the system's /run/pcscd/pcscd.pid"
    return 0
}

# 1. The card answers through pcscd, and COMMAND's status is returned.
"$with_vcard" -- bash -c "$record; $pid_files"'
    opensc-tool --list-readers | grep -E "Virtual PCD 00 00" | grep -q Yes || exit 90
    opensc-tool --reader "$JPKI_VCARD_READER" --send-apdu 00A4040C0AD392F000260100000001 | grep -q "SW1=0x90" || exit 91
    exit 7' "$work/run1"
status=$?
[ "$status" = 7 ] || fail "exit status $status, expected COMMAND's 7 (90: no card in reader, 91: SELECT failed)"
assert_nothing_left "$work/run1" "normal end"
assert_private_pid_file "$work/run1" "normal end"

# 2. SIGTERM to the script while COMMAND runs still stops everything.
"$with_vcard" -- bash -c "$record; sleep 60" "$work/run2" &
script=$!
for _ in $(seq 100); do [ -s "$work/run2" ] && break; sleep 0.1; done
kill -TERM "$script"
wait "$script"
status=$?
[ "$status" -ne 0 ] || fail "SIGTERM: expected a non-zero status"
sleep 0.2
assert_nothing_left "$work/run2" "after SIGTERM"

# 3. Bad card options: a clear error, status 2, nothing left.
out=$("$with_vcard" --no-such-option -- true 2>&1)
status=$?
[ "$status" = 2 ] || fail "bad option: status $status, expected 2"
echo "$out" | grep -q -- '--no-such-option' || fail "bad option not named in: $out"

# 4. Any user: run as nobody when we are root.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && command -v runuser >/dev/null; then
    mkdir "$work/nobody" && chown nobody "$work/nobody"
    if runuser -u nobody -- test -x "$with_vcard" && runuser -u nobody -- test -r "$here/../pki/auth-key.pem"; then
        runuser -u nobody -- env JPKI_BUILD_DIR="${JPKI_BUILD_DIR:-}" \
            "$with_vcard" -- bash -c "$record; $pid_files; opensc-tool --list-readers | grep -q Yes" "$work/nobody/run4"
        status=$?
        [ "$status" = 0 ] || fail "as nobody: status $status"
        assert_nothing_left "$work/nobody/run4" "as nobody"
        assert_private_pid_file "$work/nobody/run4" "as nobody"
    else
        echo "SKIP: the checkout is not readable by nobody; user test not run"
    fi
fi

# 5. The control command: remove/insert a card, a second card, pcscd restarted (also with no
# reader): each step seen through pcscd, and nothing left running afterwards, whichever
# processes were current at the end or started on the way.
"$with_vcard" --second-card --pki-dir "$here/../pki/card2" -- bash -c '
    set -u
    record=$0 ctl=$WITH_VCARD_CTL
    note() { "$ctl" status | tr = " " | awk "{print \$3, \$5, \$7}" >>"$record"; }
    card() { opensc-tool --list-readers | grep -F "$1" | grep -q "${2:-Yes}"; }
    note
    card "Virtual PCD 00 01" || exit 80
    "$ctl" remove >/dev/null && card "Virtual PCD 00 00" No || exit 81
    "$ctl" insert >/dev/null && card "Virtual PCD 00 00" || exit 82
    "$ctl" remove 2 >/dev/null && card "Virtual PCD 00 01" No || exit 83
    "$ctl" insert 2 >/dev/null && note
    "$ctl" restart-pcscd >/dev/null && card "Virtual PCD 00 00" && card "Virtual PCD 00 01" || exit 84
    note
    "$ctl" restart-pcscd --no-reader >/dev/null && ! opensc-tool --list-readers | grep -q Virtual || exit 85
    "$ctl" stop-pcscd >/dev/null && ! "$ctl" insert 3 2>/dev/null || exit 86
    "$ctl" start-pcscd >/dev/null && card "Virtual PCD 00 00" || exit 87
    note
    echo "$WITH_VCARD_DIR" >"$record.dir"
    exit 0' "$work/run5"
status=$?
[ "$status" = 0 ] || fail "control command: status $status (80-87: the step that failed)"
while read -r pcscd card1 card2; do
    for pid in "$pcscd" "$card1" "$card2"; do
        [ "$pid" != 0 ] && kill -0 "$pid" 2>/dev/null && fail "control command: process $pid still running"
    done
done <"$work/run5"
[ -e "$(cat "$work/run5.dir")" ] && fail "control command: scratch folder left behind"


if [ "$failures" -gt 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "PASS: with-vcard.sh fixture"
