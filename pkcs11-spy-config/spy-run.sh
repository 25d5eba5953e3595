#!/bin/sh
# spy-run.sh [--module PATH] [--log FILE] [--] COMMAND [ARGS...]
#
# Runs COMMAND with OpenSC's pkcs11-spy set up in front of jpki-pkcs11 (see spy.env): every
# PKCS#11 call COMMAND makes through the spy is logged to FILE. Give COMMAND the spy where it
# asks for a module, e.g.
#
#   pkcs11-spy-config/spy-run.sh pkcs11-tool --module /usr/lib/x86_64-linux-gnu/pkcs11-spy.so -L
#
# or, for p11-kit applications (p11tool, GnuTLS programs, p11-kit-proxy.so users), install
# jpki-pkcs11-spy.module first (README.md). --module: the module to trace (default: the installed
# jpki-pkcs11.so), --log: the log (default: $XDG_RUNTIME_DIR/jpki-pkcs11-spy.log). Returns
# COMMAND's exit status.
#
# WARNING: the log holds PINs. Delete it after use.
set -u
here=$(cd "$(dirname "$0")" && pwd)
usage() { echo "usage: spy-run.sh [--module PATH] [--log FILE] [--] COMMAND [ARGS...]" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
    --module) [ $# -ge 2 ] || usage; PKCS11SPY=$2; shift 2 ;;
    --log) [ $# -ge 2 ] || usage; PKCS11SPY_OUTPUT=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || usage
. "$here/spy.env"
[ -n "$PKCS11SPY" ] && [ -e "$PKCS11SPY" ] || { echo "spy-run: no module to trace (--module PATH)" >&2; exit 2; }
[ -n "$JPKI_SPY_MODULE" ] || exit 2
echo "spy-run: $JPKI_SPY_MODULE traces $PKCS11SPY into $PKCS11SPY_OUTPUT" >&2
"$@"
status=$?
calls=$(grep -c '^[0-9][0-9]*: C_' "$PKCS11SPY_OUTPUT" 2>/dev/null)
echo "spy-run: ${calls:-0} calls logged in $PKCS11SPY_OUTPUT (it holds PINs: delete it after use)" >&2
exit $status
