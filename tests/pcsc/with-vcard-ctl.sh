#!/usr/bin/env bash
# with-vcard-ctl.sh REQUEST [ARG]: the control command with-vcard.sh exports as WITH_VCARD_CTL
# (its header lists the requests). Runs only inside with-vcard.sh's COMMAND: it hands the request
# to the script through the FIFO in WITH_VCARD_DIR and waits (up to 60 s) for the answer.
set -uo pipefail

[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: with-vcard-ctl.sh REQUEST [ARG]" >&2; exit 2; }
dir=${WITH_VCARD_DIR:-}
[ -n "$dir" ] && [ -p "$dir/ctl.fifo" ] || { echo "with-vcard-ctl: not inside with-vcard.sh" >&2; exit 2; }

reply=$(mktemp -u "$dir/ctl-reply.XXXXXX")
mkfifo "$reply" || exit 2
trap 'rm -f "$reply"' EXIT
exec 5<>"$reply"   # read-write: never blocks, so the wait below is bounded
printf '%s %s %s\n' "$reply" "$1" "${2:-}" >"$dir/ctl.fifo"
if ! IFS= read -r -t 60 -u 5 answer; then
    echo "with-vcard-ctl: no answer to '$*' within 60 s" >&2
    exit 1
fi
case "$answer" in
ok*) echo "$answer" ;;
*) echo "with-vcard-ctl: $*: $answer" >&2; exit 1 ;;
esac
