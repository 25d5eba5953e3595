#!/usr/bin/env bash
# with-vcard.sh [jpki-vcard options] [--second-card [jpki-vcard options]] -- COMMAND ARGS...
#
# Runs COMMAND with the virtual My Number Card in a reader of a private pcscd, reached
# through the real PC/SC stack (pcscd + vsmartcard's vpcd driver), then stops everything it
# started and returns COMMAND's exit status. The demo and every PC/SC-level test use it.
#
# - pcscd gets its own socket by socket activation (it always binds its compiled-in path
#   otherwise); clients find it through PCSCLITE_CSOCK_NAME, which this script exports.
# - pcscd also writes /run/pcscd/pcscd.pid; it runs in a private mount namespace (a user
#   namespace too when not root) where /run is a scratch folder, so the system's pcscd, if
#   any, is never touched.
# - vpcd listens on a free TCP port pair; the card connects to it on 127.0.0.1.
# - --second-card puts a second virtual card in vpcd's second reader "Virtual PCD 00 01" (vpcd
#   listens on PORT and PORT+1); the options after it are that card's (give it another
#   --pki-dir, e.g. tests/pki/card2, and its own --state/--trace files).
#
# COMMAND sees: PCSCLITE_CSOCK_NAME, JPKI_VCARD_READER (the reader holding the card),
# JPKI_VCARD_READER2 (with --second-card), WITH_VCARD_DIR (scratch folder, removed afterwards),
# XDG_CACHE_HOME (an empty folder in WITH_VCARD_DIR unless the caller set one),
# WITH_VCARD_PCSCD_PID, WITH_VCARD_VCARD_PID, WITH_VCARD_VCARD2_PID (as started; "$WITH_VCARD_CTL
# status" tells the current ones), and WITH_VCARD_CTL, a control command for fault tests:
#
#   "$WITH_VCARD_CTL" remove [1|2]      kill card 1 (default) or 2 (SIGKILL: an APDU in progress
#                                       gets no answer); vpcd sees the card removed; returns once
#                                       pcscd shows the reader empty (if pcscd runs)
#   "$WITH_VCARD_CTL" insert [1|2]      start it again, same options and --state file (retry
#                                       counters persist); returns once pcscd shows the card
#   "$WITH_VCARD_CTL" stop-pcscd        SIGTERM pcscd and wait for it to end
#   "$WITH_VCARD_CTL" kill-pcscd        SIGKILL pcscd
#   "$WITH_VCARD_CTL" start-pcscd [--no-reader]
#                                       start pcscd again on the same socket path and vpcd port
#                                       pair; the cards still inserted reconnect to vpcd on their
#                                       own (jpki-vcard keeps knocking); returns once pcscd shows
#                                       them. --no-reader: a pcscd with no reader configured.
#   "$WITH_VCARD_CTL" restart-pcscd [--no-reader]   kill-pcscd, then start-pcscd
#   "$WITH_VCARD_CTL" status            prints "pcscd=PID card1=PID card2=PID" (0: not running)
#
# Each prints "ok ..." and exits 0, or prints the error on stderr and exits 1. The script serves
# these requests itself (through a FIFO in WITH_VCARD_DIR), so every process stays its child and
# is stopped at the end whatever COMMAND did.
#
# Binaries come from JPKI_BUILD_DIR (default: <repo>/build); JPKI_VCARD and PCSC_FIXTURE
# override each one. WITH_VCARD_VERBOSE=1 prints what is started and stopped.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${JPKI_BUILD_DIR:-$repo/build}
vcard_bin=${JPKI_VCARD:-$build/tests/vcard/jpki-vcard}
fixture_bin=${PCSC_FIXTURE:-$build/tests/pcsc/pcsc-fixture}
vpcd_driver=${VPCD_DRIVER:-/usr/lib/pcsc/drivers/serial/libifdvpcd.so}

say() { printf 'with-vcard: %s\n' "$*" >&2; }
verbose() { [ "${WITH_VCARD_VERBOSE:-0}" = 1 ] && say "$@"; return 0; }
die() { say "$*"; exit 2; }

vcard_args=()
vcard2_args=()
second_card=0
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    if [ "$1" = --second-card ]; then second_card=1; shift; continue; fi
    if [ "$second_card" = 1 ]; then vcard2_args+=("$1"); else vcard_args+=("$1"); fi
    shift
done
[ "${1:-}" = "--" ] && [ $# -ge 2 ] ||
    die "usage: with-vcard.sh [jpki-vcard options] [--second-card [jpki-vcard options]] -- COMMAND ARGS..."
shift

command -v pcscd >/dev/null || die "pcscd not found (Debian package pcscd)"
[ -r "$vpcd_driver" ] || die "vpcd driver not found at $vpcd_driver (Debian package vsmartcard-vpcd)"
[ -x "$vcard_bin" ] || die "jpki-vcard not found at $vcard_bin (build first, or set JPKI_BUILD_DIR)"
[ -x "$fixture_bin" ] || die "pcsc-fixture not found at $fixture_bin (build first, or set JPKI_BUILD_DIR)"

dir=$(mktemp -d "${TMPDIR:-/tmp}/with-vcard.XXXXXX") || die "cannot create a scratch folder"
pcscd_pid=""
vcard_pid=""
vcard2_pid=""
port=""
readers=("Virtual PCD 00 00" "Virtual PCD 00 01")

# Stops one process we started: TERM, up to 5 s, then KILL; always reaped.
stop() {
    local pid=$1 name=$2
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            say "$name ($pid) ignored SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    wait "$pid" 2>/dev/null
    verbose "stopped $name ($pid)"
}
cleanup() {
    stop "$vcard_pid" jpki-vcard
    stop "$vcard2_pid" "jpki-vcard (card 2)"
    stop "$pcscd_pid" pcscd
    vcard_pid="" vcard2_pid="" pcscd_pid=""
    rm -rf "$dir"
}
command_pid=""
# bash runs traps only between commands, so COMMAND runs in the background and is waited for:
# a signal to this script then stops COMMAND, the card and pcscd at once.
on_signal() {
    if [ -n "$command_pid" ]; then
        kill -TERM "$command_pid" 2>/dev/null
        wait "$command_pid" 2>/dev/null
    fi
    exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# How to give pcscd a private /run: a mount namespace (plus a user namespace when not root).
namespace=()
if [ "$(id -u)" = 0 ]; then
    namespace=(unshare --mount)
else
    namespace=(unshare --user --map-root-user --mount)
fi
if ! "${namespace[@]}" true 2>/dev/null; then
    namespace=()
    if [ -w /run/pcscd ] || { [ ! -e /run/pcscd ] && [ -w /run ]; }; then
        say "warning: no mount namespace here; pcscd will rewrite /run/pcscd/pcscd.pid"
    fi
fi

# start_pcscd PORT [--no-reader]
start_pcscd() {
    local port=$1
    if [ "${2:-}" = --no-reader ]; then
        : >"$dir/reader.conf"
    else
        printf 'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:%s\nLIBPATH %s\nCHANNELID %s\n' \
            "$port" "$vpcd_driver" "$port" >"$dir/reader.conf"
    fi
    rm -f "$dir/pcscd.comm"
    local launch=("$fixture_bin" listen-exec "$dir/pcscd.comm" -- pcscd --foreground
                  --config "$dir/reader.conf")
    if [ ${#namespace[@]} -gt 0 ]; then
        mkdir -p "$dir/run"
        # exec keeps one PID from unshare to pcscd, so LISTEN_PID and our kill both hit pcscd.
        "${namespace[@]}" sh -c 'mount --bind "$1" /run && shift && exec "$@"' sh \
            "$dir/run" "${launch[@]}" >>"$dir/pcscd.log" 2>&1 &
    else
        "${launch[@]}" >>"$dir/pcscd.log" 2>&1 &
    fi
    pcscd_pid=$!
    verbose "started pcscd ($pcscd_pid), vpcd on port $port"
}

start_vcard() {
    local port=$1
    "$vcard_bin" "${vcard_args[@]}" --vpcd "127.0.0.1:$port" >>"$dir/vcard.log" 2>&1 &
    vcard_pid=$!
    verbose "started jpki-vcard ($vcard_pid)"
}

start_vcard2() {
    local port=$1
    "$vcard_bin" "${vcard2_args[@]}" --vpcd "127.0.0.1:$((port + 1))" >>"$dir/vcard2.log" 2>&1 &
    vcard2_pid=$!
    verbose "started jpki-vcard for card 2 ($vcard2_pid)"
}

export PCSCLITE_CSOCK_NAME="$dir/pcscd.comm"
ready=0
for attempt in 1 2 3; do
    port=$("$fixture_bin" free-port) || die "no free TCP port for vpcd"
    start_pcscd "$port"
    start_vcard "$port"
    [ "$second_card" = 1 ] && start_vcard2 "$port"
    # Up to 10 s for pcscd's ~0.4 s poll to see the card(s); give up early if a card program died.
    for _ in $(seq 50); do
        if "$fixture_bin" wait-reader "${readers[0]}" present 200 &&
            { [ "$second_card" = 0 ] || "$fixture_bin" wait-reader "${readers[1]}" present 0; }; then
            ready=1; break
        fi
        if ! kill -0 "$vcard_pid" 2>/dev/null; then
            say "jpki-vcard exited:"; cat "$dir/vcard.log" >&2
            exit 2   # bad options, not a race: retrying cannot help
        fi
        if [ "$second_card" = 1 ] && ! kill -0 "$vcard2_pid" 2>/dev/null; then
            say "jpki-vcard (card 2) exited:"; cat "$dir/vcard2.log" >&2
            exit 2
        fi
    done
    [ "$ready" = 1 ] && break
    say "card not seen on port $port (attempt $attempt); pcscd said:"
    tail -n 20 "$dir/pcscd.log" >&2
    stop "$vcard_pid" jpki-vcard; stop "$vcard2_pid" "jpki-vcard (card 2)"; stop "$pcscd_pid" pcscd
    vcard_pid="" vcard2_pid="" pcscd_pid=""
done
[ "$ready" = 1 ] || die "the virtual card never appeared in pcscd"

# ---- the control command's requests (see the header) ----------------------------------------

# ctl_wait_reader N present|absent: bounded (10 s) wait until pcscd shows card N so; no-op when
# pcscd is not running or has no reader.
ctl_wait_reader() {
    local reader=${readers[$(($1 - 1))]} want=$2
    [ -n "$pcscd_pid" ] && [ "$pcscd_readers" = 1 ] || return 0
    "$fixture_bin" wait-reader "$reader" "$want" 10000 || { echo "error: $reader not $want after 10 s"; return 1; }
}

# Prints one reply line: "ok ..." or "error ...".
ctl_handle() {
    local action=$1 arg=${2:-}
    case "$action" in
    remove | insert)
        local card=${arg:-1}
        case "$card" in 1) ;; 2) [ "$second_card" = 1 ] || { echo "error: no second card (--second-card)"; return; } ;;
                         *) echo "error: no card $card"; return ;; esac
        if [ "$action" = remove ]; then
            # SIGKILL, as a card pulled out: an APDU in progress gets no answer (SIGTERM would let
            # it finish). Counters are safe: jpki-vcard writes --state on every change.
            if [ "$card" = 1 ]; then kill -KILL "$vcard_pid" 2>/dev/null; stop "$vcard_pid" jpki-vcard; vcard_pid=""
            else kill -KILL "$vcard2_pid" 2>/dev/null; stop "$vcard2_pid" "jpki-vcard (card 2)"; vcard2_pid=""; fi
            ctl_wait_reader "$card" absent || return
        else
            if [ "$card" = 1 ]; then [ -z "$vcard_pid" ] && start_vcard "$port"
            else [ -z "$vcard2_pid" ] && start_vcard2 "$port"; fi
            ctl_wait_reader "$card" present || return
        fi
        echo "ok $action $card" ;;
    stop-pcscd | kill-pcscd)
        if [ -n "$pcscd_pid" ]; then
            [ "$action" = kill-pcscd ] && kill -KILL "$pcscd_pid" 2>/dev/null
            stop "$pcscd_pid" pcscd
        fi
        pcscd_pid=""
        echo "ok $action" ;;
    start-pcscd | restart-pcscd)
        if [ "$action" = restart-pcscd ] && [ -n "$pcscd_pid" ]; then
            kill -KILL "$pcscd_pid" 2>/dev/null; stop "$pcscd_pid" pcscd; pcscd_pid=""
        fi
        [ -z "$pcscd_pid" ] || { echo "error: pcscd is running"; return; }
        [ -z "$arg" ] || [ "$arg" = --no-reader ] || { echo "error: unknown option $arg"; return; }
        start_pcscd "$port" $arg
        pcscd_readers=1; [ "$arg" = --no-reader ] && pcscd_readers=0
        "$fixture_bin" wait-service 10000 || { echo "error: pcscd did not answer within 10 s"; return; }
        if [ -n "$vcard_pid" ]; then ctl_wait_reader 1 present || return; fi
        if [ -n "$vcard2_pid" ]; then ctl_wait_reader 2 present || return; fi
        echo "ok $action" ;;
    status)
        echo "ok pcscd=${pcscd_pid:-0} card1=${vcard_pid:-0} card2=${vcard2_pid:-0}" ;;
    *)
        echo "error: unknown request '$action'" ;;
    esac
}

pcscd_readers=1
export JPKI_VCARD_READER="${readers[0]}"
[ "$second_card" = 1 ] && export JPKI_VCARD_READER2="${readers[1]}"
export WITH_VCARD_DIR="$dir" WITH_VCARD_PCSCD_PID="$pcscd_pid" WITH_VCARD_VCARD_PID="$vcard_pid"
export WITH_VCARD_VCARD2_PID="$vcard2_pid" WITH_VCARD_CTL="$here/with-vcard-ctl.sh"
# The per-user card cache (PSS proofs, READ BINARY forms; src/cache/card_cache.hpp) starts empty
# in each run, so no test sees another's facts or the user's; a caller that sets XDG_CACHE_HOME
# itself (to carry facts from one run to the next, as bench/apdu-count.sh does) keeps it.
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$dir/cache}"
mkfifo "$dir/ctl.fifo" || die "cannot create the control FIFO"
# Read-write: the open never blocks, and the FIFO never reports end-of-file between requests.
exec 4<>"$dir/ctl.fifo"
# An explicit redirection keeps COMMAND's standard input (a background job would get /dev/null).
exec 3<&0
"$@" <&3 3<&- 4<&- &
command_pid=$!
# From here a signal only sets a flag, acted on between requests: bash 5.2 can crash (seen: a
# segfault under SIGTERM, pcscd left running) when a trap exits the shell from inside `read -t`.
pending_signal=""
trap 'pending_signal=130' INT
trap 'pending_signal=143' TERM
# Serve control requests while COMMAND runs: "REPLY_FIFO ACTION [ARG]" per line.
while [ -z "$pending_signal" ] && kill -0 "$command_pid" 2>/dev/null; do
    IFS=' ' read -r -t 0.2 -u 4 reply action arg || continue
    # In this shell, not a $(...) subshell: the processes it starts must be ours, and the PIDs kept.
    ctl_handle "$action" "$arg" >"$dir/ctl.answer" 2>&1
    answer=$(grep -E '^(ok|error)' "$dir/ctl.answer" | tail -n 1)
    verbose "control: $action $arg -> ${answer:-no answer}"
    [ -p "$reply" ] && printf '%s\n' "${answer:-error: no answer}" >"$reply"
done
[ -n "$pending_signal" ] && on_signal "$pending_signal"
wait "$command_pid"
status=$?
[ -n "$pending_signal" ] && on_signal "$pending_signal"  # a signal during the wait
command_pid=""
exit "$status"
