# shellcheck shell=bash
# Shared by tests/e2e/test-libreoffice-*.sh (sourced, not run): a private headless LibreOffice
# signing through jpki-pkcs11.so with the virtual card behind a private pcscd.
#
#   lo_require                     skip (77) without LibreOffice + python3-uno, fail without
#                                  the other tools
#   lo_session OUT PIN [jpki-vcard options...]
#       in OUT: an NSS database with the module (OUT/nss, what MOZILLA_CERTIFICATE_FOLDER names),
#       the card's APDU trace (OUT/trace) and counters (OUT/state), LibreOffice's part of the
#       trace (OUT/lo-trace), the helper's verdicts (OUT/result.json), the signed PDF if any
#       (OUT/work/signed.pdf). Extra environment for soffice.bin: LO_ENV=("NAME=value" ...).
#       LO_DRIVER: the UNO driver run (default libreoffice_sign.py, the PDF export);
#       LO_TRUST_SIGN_CA=1: the test signing CA is trusted in OUT/nss (certutil -t ",C,", as jpki setup --trust sets it), as a
#       user trusts the J-LIS signing CA to see signatures as valid (docs/trust.md).
#   lo_result KEY...               prints a value from OUT/result.json (python expression path)
#   lo_check_nothing_left OUT      fails if a soffice.bin of this session still runs
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${JPKI_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${JPKI_BUILD_DIR:-$src/build}
module=${JPKI_MODULE:-$build/jpki-pkcs11.so}
pki=$src/tests/pki
python=/usr/bin/python3   # Debian's: python3-uno installs the uno module for it only
soffice_bin=${JPKI_SOFFICE_BIN:-/usr/lib/libreoffice/program/soffice.bin}
sign_token='JPKI (Digital Signature PIN)'
LO_ENV=()
LO_DRIVER=libreoffice_sign.py
LO_TRUST_SIGN_CA=0

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }

lo_require() {
    [ -x "$soffice_bin" ] || skip "LibreOffice not installed ($soffice_bin; Debian: libreoffice-writer-nogui, or libreoffice-writer beside a desktop LibreOffice)"
    [ -x "$python" ] && "$python" -c 'import uno' 2>/dev/null ||
        skip "LibreOffice's Python bridge missing ($python -c 'import uno'; Debian: python3-uno)"
    command -v certutil >/dev/null && command -v modutil >/dev/null ||
        fail "certutil/modutil not found (Debian: libnss3-tools)"
    command -v pdfsig >/dev/null || fail "pdfsig not found (Debian: poppler-utils)"
    [ -r "$module" ] || fail "module not found at $module (build first)"
}

lo_session() {
    local out=$1 pin=$2
    shift 2
    mkdir -p "$out/work"
    # Everything below runs inside with-vcard.sh (PCSCLITE_CSOCK_NAME = the private pcscd).
    # modutil loads the module as "modutil" (both slots); LibreOffice's part of the trace
    # starts after it, at the line count taken just before soffice.bin starts.
    local inner='
        set -uo pipefail
        certutil -N -d "sql:$OUT/nss" --empty-password || exit 10
        modutil -dbdir "sql:$OUT/nss" -add jpki-pkcs11 -libfile "$MODULE" -force >"$OUT/modutil.log" 2>&1 || exit 11
        modutil -dbdir "sql:$OUT/nss" -list >>"$OUT/modutil.log" 2>&1
        if [ "$TRUST_CA" = 1 ]; then
            certutil -A -d "sql:$OUT/nss" -n "jpki test signing CA" -t ",C," -i "$PKI/sign-ca.der" || exit 12
        fi
        n0=$(wc -l <"$OUT/trace")
        env "${@}" timeout -k 10 200 "$PYTHON" "$HERE/$DRIVER" --nssdb "$OUT/nss" \
            --workdir "$OUT/work" --pin-file "$OUT/pin" --cert-der "$PKI/sign-cert.der" \
            --result "$OUT/result.json" --timeout 170
        rc=$?
        tail -n +$((n0 + 1)) "$OUT/trace" >"$OUT/lo-trace"
        exit $rc'
    mkdir -p "$out/nss"
    touch "$out/trace"
    # The PIN goes to the driver in a file of its own (never on a command line, where any
    # user sees it), and from there only to the PIN answerer inside soffice.bin.
    (umask 077 && printf '%s\n' "$pin" >"$out/pin")
    OUT=$out MODULE=$module PYTHON=$python HERE=$here PKI=$pki DRIVER=$LO_DRIVER \
        TRUST_CA=$LO_TRUST_SIGN_CA \
        timeout -k 10 280 "$src/tests/pcsc/with-vcard.sh" --trace "$out/trace" --state "$out/state" "$@" -- \
        bash -c "$inner" inner "${LO_ENV[@]}" "JPKI_LO_SESSION=$out"
}

# lo_result OUT 'python expression over r'   e.g. lo_result "$out" 'r["steps"]["pdf_export"]["ok"]'
lo_result() {
    "$python" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$1/result.json" "$2"
}

# VERIFY commands with data (a PIN sent to the card) in a trace, one "EF status" a line: the
# EF is the last one selected (00A4020C02xxxx) before the VERIFY.
lo_pin_verifies() {
    awk '
        /^00A4020C02/ { ef = substr($1, 11, 4) }
        /^00A40400/   { ef = "" }
        /^00200080/ && length($1) > 8 { print ef, $2 }' "$1"
}

lo_check_nothing_left() {
    local out=$1
    if pgrep -f -- "UserInstallation=file://$out/work/profile" >/dev/null; then
        pgrep -a -f -- "UserInstallation=file://$out/work/profile" >&2
        fail "a soffice.bin of this test is still running"
    fi
}
