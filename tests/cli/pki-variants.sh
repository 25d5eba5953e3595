# tests/cli/pki-variants.sh: variants of the virtual card's test PKI for the `jpki` tests (source it).
#
#   pki_expiring_on DIR YYYY-MM-DD   DIR gets the test PKI with both card certificates re-issued
#                                    (same keys, same CAs, same subjectAltName) to end at
#                                    23:59:59 Japan time on that date; use: jpki-vcard --pki-dir DIR
#   japan_today                      today's date in Japan (UTC+9), YYYY-MM-DD
#   japan_days_from_today N          that date plus N days (N may be negative), YYYY-MM-DD
#   renewal_from YYYY-MM-DD          the date three calendar months earlier, clamped to the end of
#                                    the month (jpki's rule, src/cli/certificates.hpp)
#   test_ca_dir DIR                  DIR holds the test CAs named as jpki looks for them
#                                    (auth_ca_test.pem, sign_ca_test.pem): export JPKI_CA_DIR=DIR
pki_variants_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

pki_expiring_on() {
    local dir=$1 day=$2
    mkdir -p "$dir"
    # 23:59:59 JST is 14:59:59 UTC the same day.
    bash "$pki_variants_repo/tests/pki/make-test-pki.sh" --reissue "${day//-/}145959Z" "$dir" >/dev/null ||
        { echo "pki_expiring_on: make-test-pki.sh --reissue failed" >&2; return 1; }
}

japan_today() { TZ=UTC date -d "@$(( $(date +%s) + 9 * 3600 ))" +%Y-%m-%d; }
japan_days_from_today() { TZ=UTC date -d "$(japan_today) $1 days" +%Y-%m-%d; }

renewal_from() {
    /usr/bin/python3 - "$1" <<'PY'
import calendar, datetime, sys
d = datetime.date.fromisoformat(sys.argv[1])
y, m = (d.year, d.month - 3) if d.month > 3 else (d.year - 1, d.month + 9)
print(datetime.date(y, m, min(d.day, calendar.monthrange(y, m)[1])).isoformat())
PY
}

test_ca_dir() {
    mkdir -p "$1"
    cp "$pki_variants_repo/tests/pki/auth-ca.pem" "$1/auth_ca_test.pem"
    cp "$pki_variants_repo/tests/pki/sign-ca.pem" "$1/sign_ca_test.pem"
}
