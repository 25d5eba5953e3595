#!/usr/bin/env bash
# with-vcard.sh [jpki-vcard options] -- COMMAND ARGS...
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
#
# COMMAND sees: PCSCLITE_CSOCK_NAME, JPKI_VCARD_READER (the reader holding the card),
# WITH_VCARD_DIR (scratch folder, removed afterwards), WITH_VCARD_PCSCD_PID, WITH_VCARD_VCARD_PID.
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
while [ $# -gt 0 ] && [ "$1" != "--" ]; do vcard_args+=("$1"); shift; done
[ "${1:-}" = "--" ] && [ $# -ge 2 ] ||
    die "usage: with-vcard.sh [jpki-vcard options] -- COMMAND ARGS..."
shift

command -v pcscd >/dev/null || die "pcscd not found (Debian package pcscd)"
[ -r "$vpcd_driver" ] || die "vpcd driver not found at $vpcd_driver (Debian package vsmartcard-vpcd)"
[ -x "$vcard_bin" ] || die "jpki-vcard not found at $vcard_bin (build first, or set JPKI_BUILD_DIR)"
[ -x "$fixture_bin" ] || die "pcsc-fixture not found at $fixture_bin (build first, or set JPKI_BUILD_DIR)"

dir=$(mktemp -d "${TMPDIR:-/tmp}/with-vcard.XXXXXX") || die "cannot create a scratch folder"
pcscd_pid=""
vcard_pid=""

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
    stop "$pcscd_pid" pcscd
    vcard_pid="" pcscd_pid=""
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

start_pcscd() {
    local port=$1
    printf 'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:%s\nLIBPATH %s\nCHANNELID %s\n' \
        "$port" "$vpcd_driver" "$port" >"$dir/reader.conf"
    rm -f "$dir/pcscd.comm"
    local launch=("$fixture_bin" listen-exec "$dir/pcscd.comm" -- pcscd --foreground
                  --config "$dir/reader.conf")
    if [ ${#namespace[@]} -gt 0 ]; then
        mkdir -p "$dir/run"
        # exec keeps one PID from unshare to pcscd, so LISTEN_PID and our kill both hit pcscd.
        "${namespace[@]}" sh -c 'mount --bind "$1" /run && shift && exec "$@"' sh \
            "$dir/run" "${launch[@]}" >"$dir/pcscd.log" 2>&1 &
    else
        "${launch[@]}" >"$dir/pcscd.log" 2>&1 &
    fi
    pcscd_pid=$!
    verbose "started pcscd ($pcscd_pid), vpcd on port $port"
}

start_vcard() {
    local port=$1
    "$vcard_bin" "${vcard_args[@]}" --vpcd "127.0.0.1:$port" >"$dir/vcard.log" 2>&1 &
    vcard_pid=$!
    verbose "started jpki-vcard ($vcard_pid)"
}

export PCSCLITE_CSOCK_NAME="$dir/pcscd.comm"
ready=0
for attempt in 1 2 3; do
    port=$("$fixture_bin" free-port) || die "no free TCP port for vpcd"
    start_pcscd "$port"
    start_vcard "$port"
    # Up to 10 s for pcscd's ~0.4 s poll to see the card; give up early if the card program died.
    for _ in $(seq 50); do
        if "$fixture_bin" wait-card 200; then ready=1; break; fi
        if ! kill -0 "$vcard_pid" 2>/dev/null; then
            say "jpki-vcard exited:"; cat "$dir/vcard.log" >&2
            exit 2   # bad options, not a race: retrying cannot help
        fi
    done
    [ "$ready" = 1 ] && break
    say "card not seen on port $port (attempt $attempt); pcscd said:"
    tail -n 20 "$dir/pcscd.log" >&2
    stop "$vcard_pid" jpki-vcard; stop "$pcscd_pid" pcscd
    vcard_pid="" pcscd_pid=""
done
[ "$ready" = 1 ] || die "the virtual card never appeared in pcscd"

export JPKI_VCARD_READER="Virtual PCD 00 00"
export WITH_VCARD_DIR="$dir" WITH_VCARD_PCSCD_PID="$pcscd_pid" WITH_VCARD_VCARD_PID="$vcard_pid"
# An explicit redirection keeps COMMAND's standard input (a background job would get /dev/null).
exec 3<&0
"$@" <&3 3<&- &
command_pid=$!
wait "$command_pid"
status=$?
command_pid=""
exit "$status"
