# lib-nss.sh: helpers shared by tests/e2e/test-{nss,openssl,curl}-*.sh (sourced, not a test).
#
# Every client runs inside tests/pcsc/with-vcard.sh (private pcscd + the virtual card) with a
# timeout; files go to one mktemp folder removed at exit; servers listen on 127.0.0.1 only,
# inside a private network namespace when `unshare -n` is allowed, and are stopped by PID.
# A test calls, in this order: [e2e_enter_netns "$@"]; e2e_setup; then the helpers below.

set -uo pipefail

e2e_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
JPKI_SOURCE_DIR=${JPKI_SOURCE_DIR:-$(cd "$e2e_lib_dir/../.." && pwd)}
JPKI_BUILD_DIR=${JPKI_BUILD_DIR:-$JPKI_SOURCE_DIR/build}
export JPKI_SOURCE_DIR JPKI_BUILD_DIR
module=${JPKI_MODULE:-$JPKI_BUILD_DIR/jpki-pkcs11.so}
pki=$JPKI_SOURCE_DIR/tests/pki
with_vcard=$JPKI_SOURCE_DIR/tests/pcsc/with-vcard.sh
fixture=$JPKI_BUILD_DIR/tests/pcsc/pcsc-fixture

AUTH_TOKEN='JPKI (User Authentication PIN)'
SIGN_TOKEN='JPKI (Digital Signature PIN)'
AUTH_NICK="$AUTH_TOKEN:User Authentication Certificate"
SIGN_NICK="$SIGN_TOKEN:Digital Signature Certificate"
# PKCS#11 URIs as OpenSSL's pkcs11 engine (libp11) takes them.
AUTH_KEY_URI='pkcs11:token=JPKI%20(User%20Authentication%20PIN);object=User%20Authentication%20Key;type=private'
SIGN_KEY_URI='pkcs11:token=JPKI%20(Digital%20Signature%20PIN);object=Digital%20Signature%20Key;type=private'
AUTH_PIN=1234
SIGN_PIN=ABC123
# Bounds: one client call, one with-vcard run (card start + clients + stop).
E2E_CLIENT_TIMEOUT=${E2E_CLIENT_TIMEOUT:-60}
E2E_VCARD_TIMEOUT=${E2E_VCARD_TIMEOUT:-180}

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
note() { echo "--- $*" >&2; }

# need CMD PACKAGE: skip (77) when a client is genuinely missing.
need() { command -v "$1" >/dev/null 2>&1 || skip "$1 not installed (Debian package $2)"; }

# Re-runs the calling test inside a private network namespace with only `lo` (up), so servers
# and vpcd are reachable from nothing else. Falls back to the host's 127.0.0.1 when namespaces
# are not allowed here. Call first, with the test's own arguments.
e2e_enter_netns() {
    [ -n "${E2E_NETNS:-}" ] && return 0
    local script=${BASH_SOURCE[1]}
    local cmd=(unshare --net)
    [ "$(id -u)" = 0 ] || cmd=(unshare --user --map-root-user --net)
    if command -v ip >/dev/null 2>&1 && "${cmd[@]}" ip link set lo up 2>/dev/null; then
        exec "${cmd[@]}" env E2E_NETNS=private bash -c 'ip link set lo up && exec bash "$0" "$@"' \
            "$script" "$@"
    fi
    export E2E_NETNS=host
    note "no private network namespace here; servers use 127.0.0.1 of the host"
}

e2e_cleanup() {
    local pid
    for pid in ${e2e_pids[@]+"${e2e_pids[@]}"}; do
        kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    [ -n "${work:-}" ] && rm -rf "$work"
}

# Checks the build, makes $work (the only place tests write) and the cleanup trap.
e2e_setup() {
    [ -r "$module" ] || fail "module not found at $module (build first)"
    [ -x "$fixture" ] || fail "pcsc-fixture not found at $fixture (build first)"
    need pcscd pcscd
    work=$(mktemp -d "${TMPDIR:-/tmp}/jpki-e2e.XXXXXX") || fail "mktemp"
    e2e_pids=()
    trap e2e_cleanup EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    printf '%s\n' "$AUTH_PIN" >"$work/pin-auth"
    printf '%s\n' "$SIGN_PIN" >"$work/pin-sign"
    # The module remembers per card, in the user's cache, whether its key has proven RSA-PSS
    # (issue 12): a test starts with no facts and keeps its own (never the user's, never another
    # test's), under the default `pss = auto` whatever the caller's environment says.
    use_cache default
    unset JPKI_PKCS11_PSS
}

# use_cache NAME: the module's per-user cache (XDG_CACHE_HOME) becomes $work/cache-NAME, made
# empty the first time. The virtual cards share one token serial, so a test that runs cards with
# and without --pss gives each its own cache.
use_cache() {
    export XDG_CACHE_HOME=$work/cache-$1
    mkdir -p "$XDG_CACHE_HOME"
}

# in_vcard [jpki-vcard options] -- COMMAND...: COMMAND inside with-vcard.sh, the card's APDU trace
# appended to $work/trace. Functions a test wants to call there must be `export -f`ed.
# E2E_VCARD_OPTIONS adds card options to every run (e.g. --reselect-clears: the tests must pass
# whether or not re-selecting the JPKI AP clears a verified PIN).
in_vcard() {
    local opts=(${E2E_VCARD_OPTIONS:-})
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do opts+=("$1"); shift; done
    shift
    timeout -k 10 "$E2E_VCARD_TIMEOUT" "$with_vcard" --trace "$work/trace" ${opts[@]+"${opts[@]}"} -- "$@"
}

# Empties the trace between steps.
reset_trace() { : >"$work/trace"; }

# The VERIFY commands that carried a PIN, one line each: "<EF selected> <Lc> <status word>".
# EF 0018 holds the authentication PIN, 001B the signature password (docs/card.md).
pin_verifies() {
    awk '$1 ~ /^00A4040C/ { ef = "AP" }
         $1 ~ /^00A4020C02/ { ef = substr($1, 11, 4) }
         $1 ~ /^00200080/ && length($1) > 8 { print ef, substr($1, 9, 2), $2 }' "${1:-$work/trace}"
}

# How many COMPUTE DIGITAL SIGNATURE commands the card got with P1 00 (PKCS#1 v1.5, whatever the
# answer): the ones an application asks for in TLS 1.2, CMS, PDF... (under the default pss=auto
# the first login on the authentication token also sends one P1 04, the RSA-PSS proof:
# card_pss_signatures).
card_signatures() { grep -c '^802A0080' "${1:-$work/trace}" || true; }

# card_pss_signatures [TRACE [SW]]: how many COMPUTE DIGITAL SIGNATURE commands the card got with
# P1 04 (RSASSA-PSS over a SHA-256 hash, docs/card.md), all or only those answered SW (9000: the
# card signed; 6A86: a card without PSS refused). Under `pss = auto` the module's proof after the
# first login is one of them (issue 12).
card_pss_signatures() {
    awk -v sw="${2:-}" '$1 ~ /^802A0480/ && (sw == "" || toupper($2) == sw) { n++ } END { print n + 0 }' \
        "${1:-$work/trace}"
}

# auth_mechanisms [jpki-vcard options]: the mechanisms the module lists on the authentication
# token, as `pkcs11-tool -M` prints them, the card's APDUs added to $work/trace. Under
# `pss = auto` RSA-PKCS-PSS appears only for a card that has proven it.
auth_mechanisms() {
    in_vcard "$@" -- timeout -k 5 "$E2E_CLIENT_TIMEOUT" pkcs11-tool --module "$module" \
        --token-label "$AUTH_TOKEN" -M </dev/null
}

# The `jpki` command of this build.
jpki_bin=$JPKI_BUILD_DIR/bin/jpki

# jpki_pss_probe [jpki-vcard options]: `jpki pss probe` with the authentication PIN on stdin, the
# deliberate proof of the card's RSA-PSS (issue 12), recorded in the cache; its output on stdout.
jpki_pss_probe() {
    in_vcard "$@" -- bash -c 'printf "%s\n" "$1" | timeout -k 5 "$2" "$3" pss probe' _ \
        "$AUTH_PIN" "$E2E_CLIENT_TIMEOUT" "$jpki_bin" 2>&1
}

# prove_pss_by_probe: in a cache of its own ("probe"), `jpki pss probe` on a --pss card; fails the
# test unless it took exactly one VERIFY of the auth PIN and one P1 04 signature answered 9000.
prove_pss_by_probe() {
    use_cache probe
    reset_trace
    jpki_pss_probe --pss >"$work/probe.out" || { cat "$work/probe.out"; fail "probe: jpki pss probe failed"; }
    cp "$work/trace" "$work/probe.trace"
    echo "==== probe"; cat "$work/probe.out"
    [ "$(pin_verifies "$work/probe.trace")" = '0018 04 9000' ] || fail "probe: expected one VERIFY of the auth PIN"
    [ "$(card_pss_signatures "$work/probe.trace" 9000)/$(card_pss_signatures "$work/probe.trace")" = 1/1 ] ||
        fail "probe: expected exactly one P1 04 signature"
}

# split_case_args [jpki-vcard options] -- [s_server options] -- client options...: the three
# parts of a TLS case's arguments, as the arrays case_card, case_server and case_client.
split_case_args() {
    case_card=() case_server=() case_client=()
    while [ "$1" != "--" ]; do case_card+=("$1"); shift; done
    shift
    while [ "$1" != "--" ]; do case_server+=("$1"); shift; done
    shift
    case_client=("$@")
}
# A card state file (for jpki-vcard --state) with the given tries left: auth, sign.
write_card_state() {
    printf 'auth_pin=%s\nsign_pin=%s\nauth_tries=%s\nsign_tries=%s\n' \
        "$AUTH_PIN" "$SIGN_PIN" "$2" "$3" >"$1"
    chmod 600 "$1"
}
state_value() { sed -n "s/^$2=//p" "$1"; }

# NSS tools: no controlling terminal (a missing password must fail, never prompt and hang),
# stdin closed, bounded in time.
nss() { setsid -w timeout -k 5 "$E2E_CLIENT_TIMEOUT" "$@" </dev/null; }

# A fresh NSS database with the module added the way a user does it: `modutil -add`.
nss_new_db() {
    local db=$1
    mkdir -p "$db"
    certutil -N -d "sql:$db" --empty-password || fail "certutil -N failed"
    modutil -dbdir "sql:$db" -add jpki -libfile "$module" -force >"$db/modutil.out" 2>&1 ||
        { cat "$db/modutil.out" >&2; fail "modutil -add failed"; }
    grep -q 'Module "jpki" added to database' "$db/modutil.out" || fail "modutil did not add the module"
}

# The subject CN of a test certificate (auth or sign).
cert_cn() { openssl x509 -in "$pki/$1-cert.pem" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p'; }

# A throwaway server key and self-signed certificate for the TLS peer.
make_server_cert() {
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/server.key" -out "$work/server.pem" \
        -subj /CN=localhost -days 2 2>/dev/null || fail "cannot make a server certificate"
}

free_port() { "$fixture" free-port || fail "no free TCP port"; }

# start_s_server NAME ARGS...: openssl s_server on 127.0.0.1:$port with a client-certificate
# request, output to $work/NAME.out; its stdin is a FIFO kept open (s_server stops at EOF).
start_s_server() {
    local name=$1; shift
    port=$(free_port)
    rm -f "$work/$name.fifo"; mkfifo "$work/$name.fifo"
    timeout -k 5 120 openssl s_server -accept "127.0.0.1:$port" -cert "$work/server.pem" \
        -key "$work/server.key" -CAfile "$pki/auth-ca.pem" -Verify 1 "$@" \
        <"$work/$name.fifo" >"$work/$name.out" 2>&1 &
    server_pid=$!
    e2e_pids+=("$server_pid")
    exec 8>"$work/$name.fifo"
    local _
    for _ in $(seq 100); do
        grep -q '^ACCEPT' "$work/$name.out" 2>/dev/null && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$work/$name.out" >&2
    fail "openssl s_server did not start"
}

# Stops the server started last (it may have ended by itself after -naccept 1).
stop_s_server() {
    exec 8>&-
    local _
    for _ in $(seq 20); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
    kill -TERM "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    return 0
}

# write_test_pdf FILE: a one-page PDF written by hand (pdfsig needs a page to put the signature
# field on), for the pdfsig tests.
write_test_pdf() {
    python3 - "$1" <<'PY' || fail "cannot write the test PDF"
import sys
objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << >> >>",
        b"<< /Length 0 >>\nstream\n\nendstream"]
out = bytearray(b"%PDF-1.7\n")
offsets = []
for n, body in enumerate(objs, 1):
    offsets.append(len(out))
    out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
xref = len(out)
out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
for o in offsets:
    out += b"%010d 00000 n \n" % o
out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
open(sys.argv[1], "wb").write(out)
PY
}

# An openssl.cnf loading libp11's engine with our module; extra lines are appended verbatim.
write_openssl_cnf() {
    local file=$1; shift
    local tls=$1
    {
        printf 'openssl_conf = openssl_init\n[openssl_init]\nengines = engine_section\n'
        [ "$tls" = tls12 ] && printf 'ssl_conf = ssl_section\n'
        printf '[engine_section]\npkcs11 = pkcs11_section\n'
        printf '[pkcs11_section]\nengine_id = pkcs11\nMODULE_PATH = %s\ninit = 0\n' "$module"
        if [ "$tls" = tls12 ]; then
            # TLS 1.3 and OpenSSL's preferred TLS 1.2 choice sign client certificates with
            # RSA-PSS, which the module offers only for a card that has proven it (issue 12):
            # for any card, TLS 1.2 and PKCS#1 v1.5 + SHA-256.
            printf '[ssl_section]\nsystem_default = system_default_section\n'
            printf '[system_default_section]\nMaxProtocol = TLSv1.2\nClientSignatureAlgorithms = RSA+SHA256\n'
        fi
    } >"$file"
}

# The pkcs11 engine from Debian's libengine-pkcs11-openssl, or skip.
need_pkcs11_engine() {
    need openssl openssl
    local dir
    dir=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"/\1/p')
    [ -r "$dir/pkcs11.so" ] || skip "OpenSSL's pkcs11 engine not found in $dir (Debian package libengine-pkcs11-openssl)"
}
