#!/usr/bin/env bash
# bench/apdu-count.sh [options]
#
# APDU-count benchmark (issue 11, item 4): for each user flow, how many APDUs our module and
# OpenSC's module send to the same virtual My Number Card, read from the card's own trace
# (jpki-vcard --trace), for each card variant (extended READ BINARY and short EF identifiers
# supported or refused, a reader that fails extended APDUs). Each flow of each module on each
# variant runs in its own tests/pcsc/with-vcard.sh (fresh pcscd, fresh card, fresh process), so
# no flow profits from another's connection. Our module's per-user card cache (READ BINARY forms
# refused, the auth key's RSA-PSS fact; src/cache/card_cache.hpp) is in a stated state: --cache
# warm (default) gives each variant its own cache, filled by one unmeasured run of flow 3 (probe,
# certificate read, auth login: what a first use of a new card in a reader leaves), then every
# measured run of that variant starts from it; --cache cold gives every run an empty cache (the
# first process to see a card model in a reader). Prints Markdown tables on stdout, with derived figures
# (estimated wall time on a slow reader, module CPU per signature) and the issue's targets
# marked met / not met.
# A benchmark, not a test: it prints figures and exits 0, also when a module fails a flow
# ("n/a") or misses a target; it exits 2 only when its own tooling is broken (no virtual card,
# no pkcs11-tool, ...).
#
# Options:
#   --ours PATH|none     our module (default: <build>/jpki-pkcs11.so when it exists)
#   --opensc PATH|none   OpenSC's module (default: /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so)
#   --flows "1 2 ..."    which flows to run (default: all, 1..10; see the list below)
#   --variants "..."     which card variants (default: all-on ext-off short-off both-off
#                        reader-off; see below)
#   --signatures N       signatures in flow 4 (default: 10)
#   --cpu-signatures N   signatures per CPU-time run (default: 100; 0: no CPU figure)
#   --vcard-arg ARG      pass ARG to jpki-vcard in every run (repeatable), e.g. --reselect-clears
#   --readme             print only the compact table (README / docs/performance.md)
#   --sequences          also print, per variant, module and flow, the JPKI APDUs in short form
#   --keep DIR           keep every trace and command output in DIR
#   --cache warm|cold    our module's card cache per run (default warm; see above)
#
# Flows (our module and OpenSC's, same commands; NSS flows use a fresh NSS database per run with
# the module added by modutil -add):
#   1 pkcs11-tool -L
#   2 pkcs11-tool --token-label "JPKI (User Authentication PIN)" -O       (no login)
#   3 the same token: --login --pin 1234 --sign --id 01 -m SHA256-RSA-PKCS
#   4 bench-sign-n: one C_Login on the auth token, then N C_SignInit + C_Sign (CKM_SHA256_RSA_PKCS)
#   5 login + one signature on the sign token: pkcs11-tool --token-label "JPKI (Digital
#     Signature PIN)" --login --pin ABC123 --sign --label "Digital Signature Key" -m SHA256-RSA-PKCS
#   6 certutil -L -d DB -h "JPKI (User Authentication PIN)" -f PINFILE (our module lists without
#     the PIN; OpenSC's wants a login first, so both get the 4-digit PIN in a file)
#   7 certutil -L -d DB                                                     (no password)
#   8 NSS TLS 1.2 client-auth login as Firefox: tstclnt run under the name "firefox" (so our
#     module shows the browser's slot profile, the auth token only; include/jpki/
#     slot_defaults.hpp) -n "<auth token>:User Authentication Certificate" -W PINFILE
#     -V tls1.2:tls1.2, against openssl s_server -Verify 1 on 127.0.0.1, a port in BENCH_PORTS
#   9 cmsutil -S -N "<sign token>:Digital Signature Certificate" -H SHA256 -f PINFILE (detached)
#  10 flow 8 with tstclnt under its own name (NSS tools' profile: both tokens)
#
# Card variants (jpki-vcard switches; a variant whose switches this jpki-vcard lacks, per its
# --help, prints "variant not supported by this jpki-vcard" instead of figures):
#   all-on      --extended-apdu on  --short-ef-id on  --reader-extended on (without the switches:
#               the card's defaults, labelled so)
#   ext-off     --extended-apdu off   (the card refuses an extended Le)
#   short-off   --short-ef-id off     (the card refuses a short EF identifier in READ BINARY)
#   both-off    --extended-apdu off --short-ef-id off
#   reader-off  --reader-extended off (the reader fails extended APDUs before the card sees them)
#
# Derived figures:
#   est. time = total APDUs x 15 ms + card signatures x 400 ms (a contactless reader and a real
#               card's RSA; "card signatures" = COMPUTE DIGITAL SIGNATURE answered 9000)
#   CPU/sig   = bench-sign-n MODULE N (one login, then N C_SignInit + C_Sign on the auth token,
#               N = --cpu-signatures) run 3 times per module on the first variant, each in its
#               own with-vcard.sh; its process CPU time (CLOCK_PROCESS_CPUTIME_ID, user + system)
#               over the N pairs, divided by N; the least of the 3 runs (the machine's other load
#               only adds). That is the module and the PC/SC client library: the card (jpki-vcard)
#               and pcscd are other processes, so none of the card's own time is in it.
#
# Targets (issue 11, our module on the all-on variant): flow 1 <= 9 APDUs, 2 <= 8, 3 <= 12,
# 5 <= 16, 6 <= 11, 8 <= 16 (the issue's "Firefox TLS login"); on both-off: no worse than the "today" figures below (main before
# issue 11, default card) less their GET CHALLENGEs. Printed met / not met; never an exit status.
#
# Environment: JPKI_BUILD_DIR (default <repo>/build); JPKI_VCARD (another jpki-vcard, as
# with-vcard.sh takes it); BENCH_PORTS (default 42500-42599: the TLS server's port range);
# BENCH_TIMEOUT (default 60): seconds a flow's command may take before it is stopped ("n/a").
# bench-sign-n (flow 4) is taken from <build>/bench/bench-sign-n (CMake target bench-sign-n) or,
# when absent, compiled from bench/sign-n.cpp into a scratch folder with c++ and pkg-config
# p11-kit-1.
#
# How APDUs are classified (the rule is printed with the table, and every foreign APDU is listed
# by INS so that a reader can audit it):
#   The trace is read in order, tracking who "owns" the card. "# power on" and "# reset" make
#   the owner unknown. A SELECT by AID (INS A4, P1 04) of the JPKI AP D392F000260100000001
#   makes the owner JPKI and counts as JPKI; a SELECT by AID of any other AID counts as foreign
#   (another card driver probing for its applet) and makes the owner foreign, whatever the card
#   answered. Every other APDU belongs to the current owner: JPKI after a JPKI AID select, foreign
#   before any JPKI AID select since power-on/reset or after a foreign AID select. Rationale, from
#   OpenSC's traces: OpenSC's drivers probe before the JPKI driver matches (AID selects that the
#   card answers 6A82, and GET DATA commands that PIV-like drivers send without a select, which
#   the card answers 6D00), and OpenSC's JPKI driver always selects the JPKI AP before its first
#   EF; after the JPKI driver has matched, no other driver speaks. A JPKI-looking command (SELECT
#   EF, READ BINARY, VERIFY, SIGN) counted foreign is flagged in the audit, since the rule would
#   then be wrong about it. (A READ BINARY with a short EF identifier needs no SELECT EF, but it
#   follows the JPKI AP select like any other JPKI command.) Other "# ..." lines are events, not
#   APDUs: an extended APDU that the reader refused never reached the card and is not counted.
#   JPKI = total - foreign. The ratio is our module's TOTAL over OpenSC's JPKI count (our module
#   has no business probing for other applets, so its foreign APDUs count against it).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
build=${JPKI_BUILD_DIR:-$repo/build}
with_vcard=$repo/tests/pcsc/with-vcard.sh
vcard_bin=${JPKI_VCARD:-$build/tests/vcard/jpki-vcard}

die() { printf 'apdu-count: %s\n' "$*" >&2; exit 2; }
usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

all_flows="1 2 3 4 5 6 7 8 9 10"
all_variants="all-on ext-off short-off both-off reader-off"
ours=""
ours_given=0
opensc=/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so
flows=$all_flows
variants=$all_variants
signatures=10
cpu_signatures=100
vcard_args=()
readme=0
sequences=0
keep=""
cache_state=warm
while [ $# -gt 0 ]; do
    case $1 in
        --ours) ours=${2:?}; ours_given=1; shift 2 ;;
        --opensc) opensc=${2:?}; shift 2 ;;
        --flows) flows=${2:?}; shift 2 ;;
        --variants) variants=${2:?}; shift 2 ;;
        --signatures) signatures=${2:?}; shift 2 ;;
        --cpu-signatures) cpu_signatures=${2:?}; shift 2 ;;
        --vcard-arg) vcard_args+=("${2:?}"); shift 2 ;;
        --readme) readme=1; shift ;;
        --sequences) sequences=1; shift ;;
        --keep) keep=${2:?}; shift 2 ;;
        --cache) cache_state=${2:?}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[ "$ours_given" = 1 ] || ours=$build/jpki-pkcs11.so
[ "$ours" = none ] && ours=""
[ "$opensc" = none ] && opensc=""
[[ $signatures =~ ^[1-9][0-9]*$ ]] || die "--signatures wants a number > 0"
[[ $cpu_signatures =~ ^[0-9]+$ ]] || die "--cpu-signatures wants a number"
[[ $cache_state =~ ^(warm|cold)$ ]] || die "--cache wants warm or cold"
unset XDG_CACHE_HOME  # each run's card cache is the one cache_home names, whatever the caller's is
for f in $flows; do [[ $f =~ ^([1-9]|10)$ ]] || die "unknown flow '$f' (1..10)"; done
for v in $variants; do [[ " $all_variants " == *" $v "* ]] || die "unknown variant '$v' ($all_variants)"; done
ports=${BENCH_PORTS:-42500-42599}
[[ $ports =~ ^([0-9]+)-([0-9]+)$ ]] || die "BENCH_PORTS wants FIRST-LAST"
port_first=${BASH_REMATCH[1]} port_last=${BASH_REMATCH[2]}
run_timeout=${BENCH_TIMEOUT:-60}
[[ $run_timeout =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIMEOUT wants seconds"

needs_flow() { local f; for f in "$@"; do [[ " $flows " == *" $f "* ]] && return 0; done; return 1; }

command -v pkcs11-tool >/dev/null || die "pkcs11-tool not found (Debian package opensc)"
[ -x "$with_vcard" ] || die "$with_vcard missing"
if [ ! -x "$vcard_bin" ] || [ ! -x "$build/tests/pcsc/pcsc-fixture" ]; then
    die "build the test bed first: cmake --build $build --target jpki-vcard pcsc-fixture"
fi
if needs_flow 6 7 8 9 10; then
    for tool in certutil modutil cmsutil tstclnt; do
        command -v "$tool" >/dev/null || die "$tool not found (Debian package libnss3-tools)"
    done
fi
needs_flow 8 10 && { command -v openssl >/dev/null || die "openssl not found (Debian package openssl)"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/apdu-count.XXXXXX") || die "no scratch folder"
server_pid=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
if [ -n "$keep" ]; then mkdir -p "$keep" || die "cannot create $keep"; out=$keep; else out=$work; fi

# The e2e tests' names, PINs and helpers (nss_new_db, make_server_cert).
# shellcheck disable=SC1091
JPKI_SOURCE_DIR=$repo JPKI_BUILD_DIR=$build source "$repo/tests/e2e/lib-nss.sh"
set +e

# Flow 4 and the CPU figure need bench-sign-n; only build it then.
sign_n=""
if needs_flow 4 || [ "$cpu_signatures" -gt 0 ]; then
    if [ -x "$build/bench/bench-sign-n" ] && [ "$build/bench/bench-sign-n" -nt "$here/sign-n.cpp" ]; then
        sign_n=$build/bench/bench-sign-n
    else
        cxx=${CXX:-c++}
        command -v "$cxx" >/dev/null || die "no C++ compiler to build bench-sign-n"
        # shellcheck disable=SC2046
        "$cxx" -std=c++20 -O1 $(pkg-config --cflags p11-kit-1) -o "$work/bench-sign-n" \
            "$here/sign-n.cpp" -ldl || die "cannot build bench-sign-n"
        sign_n=$work/bench-sign-n
    fi
fi

printf '%s' "hello from bench/apdu-count.sh" >"$work/data.bin"
head -c 100000 /dev/zero | tr '\0' 'x' >"$work/doc.txt"
printf '%s\n' "$AUTH_PIN" >"$work/pin-auth"
printf '%s\n' "$SIGN_PIN" >"$work/pin-sign"
mkdir -p "$work/bin"
ln -s "$(command -v tstclnt || echo tstclnt)" "$work/bin/firefox"

flow_name() {
    case $1 in
        1) echo "pkcs11-tool -L" ;;
        2) echo "pkcs11-tool -O, auth token" ;;
        3) echo "login + one signature, auth token" ;;
        4) echo "$signatures signatures after one login" ;;
        5) echo "login + one signature, sign token" ;;
        6) echo "certutil -L -h auth token" ;;
        7) echo "certutil -L" ;;
        8) echo "NSS TLS 1.2 client-auth login (as Firefox)" ;;
        9) echo "cmsutil -S, sign token" ;;
        10) echo "NSS TLS 1.2 client-auth login (tstclnt)" ;;
    esac
}

# Targets of issue 11 for our module: on all-on, and on both-off (today's total less its GET
# CHALLENGEs). "Today" = main at c9a3332 (before issue 11) on the default virtual card, measured
# with this script; total APDUs / GET CHALLENGEs per flow.
declare -A target_all_on=([1]=9 [2]=8 [3]=12 [5]=16 [6]=11 [8]=16)
declare -A today_total=() today_challenges=()
# flow=total/GET CHALLENGEs (bench/apdu-count.sh --variants all-on --sequences shows both):
for pair in 1=14/0 2=15/0 3=16/0 4=25/0 5=26/0 6=21/2 7=16/2 8=22/1 9=38/2 10=27/2; do
    f=${pair%%=*} v=${pair#*=}
    today_total[$f]=${v%/*} today_challenges[$f]=${v#*/}
done

# Variants: the jpki-vcard switches each needs. What this jpki-vcard supports, from its --help.
variant_args() {
    case $1 in
        all-on) echo "--extended-apdu on --short-ef-id on --reader-extended on" ;;
        ext-off) echo "--extended-apdu off" ;;
        short-off) echo "--short-ef-id off" ;;
        both-off) echo "--extended-apdu off --short-ef-id off" ;;
        reader-off) echo "--reader-extended off" ;;
    esac
}
variant_name() {
    case $1 in
        all-on) echo "all on: extended Le and short EF ids supported, reader passes extended APDUs" ;;
        ext-off) echo "extended Le refused by the card" ;;
        short-off) echo "short EF ids refused by the card" ;;
        both-off) echo "extended Le and short EF ids both refused" ;;
        reader-off) echo "reader fails extended APDUs" ;;
    esac
}
vcard_help=$("$vcard_bin" --help 2>&1)
switch_supported() { grep -qF -- "$1" <<<"$vcard_help"; }
declare -A variant_ok=() variant_switches=()
for v in $variants; do
    read -ra sw <<<"$(variant_args "$v")"
    supported=1
    for s in "${sw[@]}"; do [[ $s == --* ]] && ! switch_supported "$s" && supported=0; done
    if [ "$supported" = 1 ]; then
        variant_ok[$v]=1; variant_switches[$v]=${sw[*]}
    elif [ "$v" = all-on ]; then
        variant_ok[$v]=1; variant_switches[$v]=""   # the card's defaults
    else
        variant_ok[$v]=0
    fi
done

# nss_db ROLE MODULE: the role's template NSS database, made once (modutil -add, as a user
# does), copied afresh for every run. No pcscd answers here: adding the module touches no card.
declare -A nss_db_state=()
nss_db() {
    local role=$1 mod=$2 db=$work/nssdb-$1
    if [ -z "${nss_db_state[$role]:-}" ]; then
        if (module=$mod PCSCLITE_CSOCK_NAME=$work/no-pcscd.comm; export PCSCLITE_CSOCK_NAME
            nss_new_db "$db") >"$work/nssdb-$role.log" 2>&1; then
            nss_db_state[$role]=ok
        else
            nss_db_state[$role]="NSS database setup failed: $(tail -n 1 "$work/nssdb-$role.log")"
        fi
    fi
    [ "${nss_db_state[$role]}" = ok ]
}

# start_server NAME: openssl s_server (TLS 1.2, -Verify 1, the test auth CA) for one handshake
# on the first port of BENCH_PORTS it can bind; sets server_port and server_pid.
start_server() {
    local name=$1 p _
    [ -s "$work/server.pem" ] || make_server_cert >/dev/null 2>&1 || return 1
    for ((p = port_first; p <= port_last; p++)); do
        rm -f "$work/$name.fifo"; mkfifo "$work/$name.fifo"
        openssl s_server -accept "127.0.0.1:$p" -cert "$work/server.pem" -key "$work/server.key" \
            -CAfile "$repo/tests/pki/auth-ca.pem" -Verify 1 -tls1_2 -naccept 1 \
            <"$work/$name.fifo" >"$out/$name.server" 2>&1 &
        server_pid=$!
        exec 8>"$work/$name.fifo"
        for _ in $(seq 100); do
            grep -q '^ACCEPT' "$out/$name.server" 2>/dev/null && { server_port=$p; return 0; }
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.05
        done
        stop_server
    done
    return 1
}
stop_server() {
    exec 8>&-
    local _
    for _ in $(seq 20); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
    kill -TERM "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=""
    return 0
}

# cache_home ROLE VARIANT: the XDG_CACHE_HOME a run gets: our module's, per variant, under
# --cache warm; else an empty one per run (with-vcard.sh's own, when this prints nothing).
cache_home() {
    [ "$1" = ours ] && [ "$cache_state" = warm ] && echo "$work/cache-$2"
    return 0
}

# run_flow FLOW MODULE ROLE VARIANT [TAG]: runs the flow in a fresh fixture, leaves
# $out/TAG.trace and .log (TAG: VARIANT-ROLE-fFLOW); returns 0 when the flow succeeded (its
# log's last line says why not otherwise).
run_flow() {
    local flow=$1 module=$2 role=$3 variant=$4
    local tag=${5:-$variant-$role-f$flow}
    local trace=$out/$tag.trace log=$out/$tag.log sig=$work/$tag.sig db=$work/db-$tag
    local cmd sw
    # Every command is bounded in time (a module that hangs gives n/a, not a stuck benchmark).
    # NSS tools as lib-nss.sh's nss() runs them: no controlling terminal (a missing password
    # fails instead of prompting), stdin closed.
    local bound=(timeout -k 5 "$run_timeout") nss=(setsid -w timeout -k 5 "$run_timeout")
    read -ra sw <<<"${variant_switches[$variant]}"
    rm -f "$trace" "$sig"
    if [ "$flow" -ge 6 ]; then
        nss_db "$role" "$module" || { echo "${nss_db_state[$role]}" >"$log"; return 1; }
        rm -rf "$db"; cp -r "$work/nssdb-$role" "$db"
    fi
    case $flow in
        1) cmd=("${bound[@]}" pkcs11-tool --module "$module" -L) ;;
        2) cmd=("${bound[@]}" pkcs11-tool --module "$module" --token-label "$AUTH_TOKEN" -O) ;;
        3) cmd=("${bound[@]}" pkcs11-tool --module "$module" --token-label "$AUTH_TOKEN" --login --pin "$AUTH_PIN"
                --sign --id 01 -m SHA256-RSA-PKCS -i "$work/data.bin" -o "$sig") ;;
        4) cmd=("${bound[@]}" "$sign_n" "$module" "$signatures" "$AUTH_TOKEN" "$AUTH_PIN" 01) ;;
        5) cmd=("${bound[@]}" pkcs11-tool --module "$module" --token-label "$SIGN_TOKEN" --login --pin "$SIGN_PIN"
                --sign --label "Digital Signature Key" -m SHA256-RSA-PKCS -i "$work/data.bin" -o "$sig") ;;
        6) cmd=("${nss[@]}" certutil -L -d "sql:$db" -h "$AUTH_TOKEN" -f "$work/pin-auth") ;;
        7) cmd=("${nss[@]}" certutil -L -d "sql:$db") ;;
        8|10) start_server "$tag" || { echo "no TLS server on 127.0.0.1:$ports" >"$log"; return 1; }
           cmd=("${nss[@]}" "$([ "$flow" = 8 ] && echo "$work/bin/firefox" || echo tstclnt)" -h 127.0.0.1 -p "$server_port" -d "sql:$db" -n "$AUTH_NICK"
                -W "$work/pin-auth" -V tls1.2:tls1.2 -o -Q) ;;
        9) cmd=("${nss[@]}" cmsutil -S -N "$SIGN_NICK" -Y NONE -G -T -H SHA256 -d "sql:$db"
                -f "$work/pin-sign" -i "$work/doc.txt" -o "$sig") ;;
    esac
    local cache; cache=$(cache_home "$role" "$variant")
    local -a cache_env=(); [ -n "$cache" ] && cache_env=("XDG_CACHE_HOME=$cache")
    env ${cache_env[@]+"${cache_env[@]}"} "$with_vcard" ${vcard_args[@]+"${vcard_args[@]}"} ${sw[@]+"${sw[@]}"} \
        --trace "$trace" -- "${cmd[@]}" </dev/null >"$log" 2>&1
    local rc=$?
    [ -n "$server_pid" ] && stop_server
    rm -rf "$db"
    if [ ! -e "$trace" ]; then
        cat "$log" >&2
        die "the virtual card never started (see above)"
    fi
    case $rc in
        0) ;;
        124|137) echo "timed out after $run_timeout s (BENCH_TIMEOUT)" >>"$log"; return 1 ;;
        *) echo "exit status $rc" >>"$log"; return 1 ;;
    esac
    case $flow in
        3|5|9) [ -s "$sig" ] || { echo "no signature written" >>"$log"; return 1; } ;;
        4) grep -q "^OK $signatures signatures" "$log" || return 1 ;;
        8|10) if ! grep -q '^subject=.*CN = ' "$out/$tag.server" || grep -q '^verify error' "$out/$tag.server"; then
                  echo "the server did not get a verified client certificate" >>"$log"; return 1
              fi ;;
    esac
    return 0
}

# classify TRACE: prints "total foreign jpki signatures challenges", then lines "foreign-ins ...",
# "foreign-other ...", "foreign-odd ...", "jpki-ins ...", "seq ..." (see the rule at the top).
classify() {
    awk -v jpki_aid=D392F000260100000001 '
    function hexval(h,   i, v, c) {
        v = 0; h = toupper(h)
        for (i = 1; i <= length(h); i++) { c = index("0123456789ABCDEF", substr(h, i, 1)) - 1; v = v * 16 + c }
        return v
    }
    function token(cmd, sw, ins, p1, lc, body) {
        ins = substr(cmd, 3, 2); p1 = substr(cmd, 5, 2)
        if (ins == "A4" && p1 == "04") return "SEL-AP"
        if (ins == "A4") return "SEL-" substr(cmd, 11, 4)
        if (ins == "B0") {
            # P1 bit 8 set: a short EF identifier in P1 bits 5-1 (ISO 7816-4); an extended Le is
            # 3 bytes (00 + 2) after the 4-byte header: 14 hex digits in all.
            body = (hexval(p1) >= 128 ? "READ-SFI" sprintf("%02X", hexval(p1) - 128) : "READ")
            if (length(cmd) == 14) body = body "-ext"
            return body (sw == "9000" || substr(sw, 1, 2) == "62" ? "" : "(" sw ")")
        }
        if (ins == "20") return (length(cmd) <= 10 ? "VERIFY-empty" : "VERIFY-PIN") "(" sw ")"
        if (ins == "2A") return "SIGN(" sw ")"
        if (ins == "24") return "CHANGE-PIN(" sw ")"
        if (ins == "84") return "GET-CHALLENGE"
        return "INS-" ins "(" sw ")"
    }
    BEGIN { owner = "none"; total = foreign = signs = challenges = 0; n = 0 }
    /^# / { if ($2 == "power" && $3 == "on" || $2 == "reset") owner = "none"; next }
    NF < 2 { next }
    {
        cmd = toupper($1); sw = toupper($2); ins = substr(cmd, 3, 2); p1 = substr(cmd, 5, 2)
        total++
        if (ins == "2A" && sw == "9000") signs++
        if (ins == "84") challenges++
        if (ins == "A4" && p1 == "04") {
            lc = hexval(substr(cmd, 9, 2)); aid = substr(cmd, 11, 2 * lc)
            owner = (aid == jpki_aid) ? "jpki" : "foreign"
            cls = owner
        } else {
            cls = (owner == "jpki") ? "jpki" : "foreign"
        }
        if (cls == "foreign") {
            foreign++
            key = ins (ins == "A4" ? (p1 == "04" ? " SELECT-AID" : " SELECT-other") : "") " " sw
            fcount[key]++; if (!(key in forder)) { forder[key] = ++nf; fkeys[nf] = key }
            if (ins == "A4" && p1 != "04" || ins == "B0" || ins == "20" || ins == "2A" || ins == "24")
                odd[++nodd] = cmd " " sw
            if (!(ins == "A4" && p1 == "04")) other[++nother] = cmd " " sw
        } else {
            jcount[ins]++; if (!(ins in jorder)) { jorder[ins] = ++nj; jkeys[nj] = ins }
            seq[++n] = token(cmd, sw)
        }
    }
    END {
        print total, foreign, total - foreign, signs, challenges
        line = ""; for (i = 1; i <= nf; i++) line = line sprintf("%s x%d; ", fkeys[i], fcount[fkeys[i]])
        print "foreign-ins " line
        line = ""; for (i = 1; i <= nother; i++) line = line other[i] "; "
        print "foreign-other " line
        line = ""; for (i = 1; i <= nodd; i++) line = line odd[i] "; "
        print "foreign-odd " line
        line = ""; for (i = 1; i <= nj; i++) line = line sprintf("%s x%d; ", jkeys[i], jcount[jkeys[i]])
        print "jpki-ins " line
        # Compress: consecutive equal tokens -> "T xN"; then repeated blocks of 2..3 tokens.
        m = 0
        for (i = 1; i <= n; i++) {
            if (m > 0 && base[m] == seq[i]) { rep[m]++ } else { base[++m] = seq[i]; rep[m] = 1 }
        }
        for (i = 1; i <= m; i++) t[i] = rep[i] > 1 ? base[i] " x" rep[i] : base[i]
        k = 0; i = 1
        while (i <= m) {
            done = 0
            for (p = 2; p <= 3 && !done; p++) {
                r = 1
                while (i + (r + 1) * p - 1 <= m) {
                    same = 1
                    for (j = 0; j < p; j++) if (t[i + j] != t[i + r * p + j]) { same = 0; break }
                    if (!same) break
                    r++
                }
                if (r > 1) {
                    blk = "("; for (j = 0; j < p; j++) blk = blk (j ? ", " : "") t[i + j]
                    out[++k] = blk ") x" r; i += r * p; done = 1
                }
            }
            if (!done) { out[++k] = t[i]; i++ }
        }
        line = ""; for (i = 1; i <= k; i++) line = line (i > 1 ? ", " : "") out[i]
        print "seq " line
    }' "$1"
}

declare -A res_total=() res_foreign=() res_jpki=() res_signs=() res_chal=() res_fins=() \
    res_fother=() res_fodd=() res_jins=() res_seq=() res_fail=() res_cpu=()
declare -A warm_fail=()
for variant in $variants; do
    [ "${variant_ok[$variant]}" = 1 ] || continue
    # --cache warm: the variant's cache filled by a first, unmeasured use of the card.
    if [ "$cache_state" = warm ] && [ -n "$ours" ] && [ -r "$ours" ] && ! run_flow 3 "$ours" ours "$variant" "$variant-ours-warm-up"; then
        warm_fail[$variant]="cache warm-up (flow 3) failed: $(grep -v '^$' "$out/$variant-ours-warm-up.log" | tail -n 1)"
    fi
    for flow in $flows; do
        for role in ours opensc; do
            module=${!role}
            [ -n "$module" ] || continue
            key=$variant-$role-$flow
            if [ ! -r "$module" ]; then res_fail[$key]="module not found: $module"; continue; fi
            log=$out/$variant-$role-f$flow.log
            if ! run_flow "$flow" "$module" "$role" "$variant"; then
                res_fail[$key]="flow failed: $(grep -v '^$' "$log" | tail -n 1)"
            fi
            [ -e "$out/$variant-$role-f$flow.trace" ] || continue
            {
                read -r t f j s c
                while read -r kind rest; do
                    case $kind in
                        foreign-ins) res_fins[$key]=$rest ;;
                        foreign-other) res_fother[$key]=$rest ;;
                        foreign-odd) res_fodd[$key]=$rest ;;
                        jpki-ins) res_jins[$key]=$rest ;;
                        seq) res_seq[$key]=$rest ;;
                    esac
                done
            } < <(classify "$out/$variant-$role-f$flow.trace")
            res_total[$key]=$t res_foreign[$key]=$f res_jpki[$key]=$j res_signs[$key]=$s res_chal[$key]=$c
        done
    done
done

# CPU per signature: the least of 3 runs per module, on the first supported variant.
cpu_variant=""
for v in $variants; do [ "${variant_ok[$v]}" = 1 ] && { cpu_variant=$v; break; }; done
if [ "$cpu_signatures" -gt 0 ] && [ -n "$cpu_variant" ]; then
    read -ra sw <<<"${variant_switches[$cpu_variant]}"
    for role in ours opensc; do
        module=${!role}
        if [ -z "$module" ] || [ ! -r "$module" ]; then continue; fi
        cache=$(cache_home "$role" "$cpu_variant")
        cache_env=(); [ -n "$cache" ] && cache_env=("XDG_CACHE_HOME=$cache")
        for run in 1 2 3; do
            log=$out/cpu-$role-$run.log
            env ${cache_env[@]+"${cache_env[@]}"} "$with_vcard" ${vcard_args[@]+"${vcard_args[@]}"} ${sw[@]+"${sw[@]}"} -- \
                timeout -k 5 "$run_timeout" "$sign_n" "$module" "$cpu_signatures" "$AUTH_TOKEN" "$AUTH_PIN" 01 </dev/null >"$log" 2>&1
            u=$(sed -n 's/^cpu_us_per_signature //p' "$log")
            [ -n "$u" ] || continue
            if [ -z "${res_cpu[$role]:-}" ] || awk -v a="$u" -v b="${res_cpu[$role]}" 'BEGIN { exit !(a < b) }'; then
                res_cpu[$role]=$u
            fi
        done
    done
fi

ok() { [ -n "${res_total[$1]:-}" ] && [ -z "${res_fail[$1]:-}" ]; }
# est_time KEY: "X.XX s" = total APDUs x 15 ms + card signatures x 400 ms.
est_time() { awk -v a="${res_total[$1]}" -v s="${res_signs[$1]}" 'BEGIN { printf "%.2f s", (a * 15 + s * 400) / 1000 }'; }
# target VARIANT FLOW: the bound for our module's total APDUs, or nothing.
target() {
    case $1 in
        all-on) echo "${target_all_on[$2]:-}" ;;
        both-off) [ -n "${today_total[$2]:-}" ] && echo $((today_total[$2] - today_challenges[$2])) ;;
    esac
}
target_text() {  # VARIANT FLOW: "≤ N" with how it was derived for both-off
    local t; t=$(target "$1" "$2")
    [ -n "$t" ] || { echo "—"; return; }
    if [ "$1" = both-off ]; then echo "≤ $t (today ${today_total[$2]} − ${today_challenges[$2]} GET CHALLENGE)"
    else echo "≤ $t"; fi
}
target_mark() {  # VARIANT FLOW: "met" / "not met" / "" for our module's figure
    local t key=$1-ours-$2; t=$(target "$1" "$2")
    [ -n "$t" ] && ok "$key" || return 0
    if [ "${res_total[$key]}" -le "$t" ]; then echo "met"; else echo "NOT MET"; fi
}
cpu_text() {  # ROLE: "X µs" or n/a
    if [ -n "${res_cpu[$1]:-}" ]; then
        awk -v u="${res_cpu[$1]}" 'BEGIN { if (u >= 1000) printf "%.2f ms", u / 1000; else printf "%.0f µs", u }'
    else echo "n/a"; fi
}
variant_label() {  # VARIANT: the name and the switches actually passed
    local switches=${variant_switches[$1]:-}
    if [ -n "$switches" ]; then echo "$1 ($(variant_name "$1"); jpki-vcard $switches)"
    else echo "$1 (this jpki-vcard has no variant switches: its defaults)"; fi
}

rules() {
    if [ "$cache_state" = warm ]; then
        echo "Card cache: warm. Our module's per-user cache holds what one earlier use of this card model in"
        echo "this reader taught it (READ BINARY forms refused, RSA-PSS refused): the first run ever on a new"
        echo "card or reader pays the refused forms once more (--cache cold measures that run)."
    else
        echo "Card cache: cold. Every run of our module starts with an empty per-user cache, as the first"
        echo "process to see a card model in a reader does."
    fi
    cat <<EOF
Counting: APDUs in the virtual card's trace, fresh pcscd + card + process per cell. Foreign =
another card driver's probing: a SELECT by AID of any AID other than the JPKI AP
(D392F000260100000001), plus every APDU sent while no JPKI AID select has happened since
power-on/reset or after such a foreign SELECT; JPKI = total − foreign. Ratio = our total ÷
OpenSC's JPKI APDUs (target ≤ 0.50). Est. time = total APDUs × 15 ms + card signatures × 400 ms
(a contactless reader, a real card's RSA). CPU per signature = bench-sign-n's process CPU time
(CLOCK_PROCESS_CPUTIME_ID) over $cpu_signatures C_SignInit + C_Sign after one login, ÷ $cpu_signatures, least of 3
runs: the module and the PC/SC client library; the card and pcscd are other processes and not
counted. Targets: issue 11, for our module's total APDUs; printed, never an exit status.
EOF
}

if [ "$readme" = 1 ]; then
    shown=()
    for v in $variants; do [ "${variant_ok[$v]}" = 1 ] && shown+=("$v"); done
    first=${shown[0]:-all-on}
    printf '| flow | target | jpki-pkcs11 APDUs (%s) | OpenSC APDUs, total (JPKI), %s | est. time, %s: ours / OpenSC |\n' \
        "$(joined=$(IFS=/; echo "${shown[*]}"); echo "${joined//\// / }")" "$first" "$first"
    echo "|---|---|---|---|---|"
    for flow in $flows; do
        cells=()
        for v in "${shown[@]}"; do
            k=$v-ours-$flow
            if ok "$k"; then
                m=$(target_mark "$v" "$flow")
                cells+=("${res_total[$k]}${m:+ ($m)}")
            else cells+=("n/a"); fi
        done
        s=$first-opensc-$flow o=$first-ours-$flow
        if ok "$s"; then scell="${res_total[$s]} (${res_jpki[$s]})"; else scell="n/a"; fi
        tcell="$(ok "$o" && est_time "$o" || echo n/a) / $(ok "$s" && est_time "$s" || echo n/a)"
        t=$(target all-on "$flow"); b=$(target both-off "$flow")
        ttext="${t:+≤ $t}${t:+${b:+; }}${b:+both off ≤ $b}"
        printf '| %s. %s | %s | %s | %s | %s |\n' "$flow" "$(flow_name "$flow")" "${ttext:-—}" \
            "$(IFS='|'; echo "${cells[*]}" | sed 's/|/ \/ /g')" "$scell" "$tcell"
    done
    echo
    if [ "$cpu_signatures" -gt 0 ]; then
        printf 'CPU per signature (%s): jpki-pkcs11 %s, OpenSC %s.\n' \
            "$cpu_variant" "$(cpu_text ours)" "$(cpu_text opensc)"
    fi
    for v in $variants; do
        [ -n "${warm_fail[$v]:-}" ] && echo "- $v: ${warm_fail[$v]}"
        if [ "${variant_ok[$v]}" != 1 ]; then echo "- $v: variant not supported by this jpki-vcard"
        elif [ -z "${variant_switches[$v]}" ]; then echo "- $v: this jpki-vcard has no variant switches; its defaults"
        fi
        for flow in $flows; do
            for role in ours opensc; do
                [ -n "${res_fail[$v-$role-$flow]:-}" ] && echo "- n/a: $v, flow $flow, $role: ${res_fail[$v-$role-$flow]}"
            done
        done
    done
    echo
    rules
    exit 0
fi

echo "# APDU count per user flow (virtual My Number Card, fresh card and process per flow)"
echo
rules
for variant in $variants; do
    echo
    if [ "${variant_ok[$variant]}" != 1 ]; then
        echo "## Variant $variant ($(variant_name "$variant"))"
        echo
        echo "variant not supported by this jpki-vcard (its --help lacks: $(variant_args "$variant"))"
        continue
    fi
    echo "## Variant $(variant_label "$variant")"
    echo
    echo "| flow | ours: APDUs (signatures) | ours: est. time | target | OpenSC: total / foreign / JPKI (signatures) | OpenSC: est. time | ratio |"
    echo "|---|---|---|---|---|---|---|"
    for flow in $flows; do
        o=$variant-ours-$flow s=$variant-opensc-$flow
        if ok "$o"; then ocell="${res_total[$o]} (${res_signs[$o]})"; otime=$(est_time "$o"); else ocell="n/a"; otime="n/a"; fi
        if ok "$s"; then scell="${res_total[$s]} / ${res_foreign[$s]} / ${res_jpki[$s]} (${res_signs[$s]})"; stime=$(est_time "$s")
        else scell="n/a"; stime="n/a"; fi
        ratio="n/a"
        if ok "$o" && ok "$s" && [ "${res_jpki[$s]}" -gt 0 ]; then
            ratio=$(awk -v a="${res_total[$o]}" -v b="${res_jpki[$s]}" 'BEGIN { r = a / b; printf "%.2f%s", r, (r <= 0.5 ? "" : " (target ≤ 0.50)") }')
        fi
        m=$(target_mark "$variant" "$flow")
        echo "| $flow. $(flow_name "$flow") | $ocell | $otime | $(target_text "$variant" "$flow")${m:+: $m} | $scell | $stime | $ratio |"
    done
done
if [ "$cpu_signatures" -gt 0 ]; then
    echo
    echo "CPU per signature (variant ${cpu_variant:-none}): ours $(cpu_text ours), OpenSC $(cpu_text opensc)."
fi
echo
echo "## Audit: APDUs counted foreign, by INS and status word"
echo
for variant in $variants; do
    for flow in $flows; do
        for role in ours opensc; do
            key=$variant-$role-$flow
            [ -n "${res_total[$key]:-}" ] || continue
            line="- $variant, flow $flow, $role${res_fail[$key]:+ (flow failed)}: ${res_foreign[$key]} foreign"
            [ "${res_foreign[$key]}" -gt 0 ] && line+=" — ${res_fins[$key]%;}"
            [ -n "${res_fother[$key]}" ] && line+=" — the non-SELECT ones: ${res_fother[$key]%;}"
            echo "$line"
            [ -n "${res_fodd[$key]}" ] &&
                echo "  - WARNING: JPKI-looking commands counted foreign (check the rule): ${res_fodd[$key]%;}"
        done
    done
done
if [ "${#res_fail[@]}" -gt 0 ] || [ "${#warm_fail[@]}" -gt 0 ]; then
    echo
    echo "## Flows that gave n/a"
    echo
    for variant in $variants; do [ -n "${warm_fail[$variant]:-}" ] && echo "- $variant: ${warm_fail[$variant]}"; done
    for variant in $variants; do
        for flow in $flows; do
            for role in ours opensc; do
                [ -n "${res_fail[$variant-$role-$flow]:-}" ] &&
                    echo "- $variant, flow $flow, $role: ${res_fail[$variant-$role-$flow]}"
            done
        done
    done
fi
if [ "$sequences" = 1 ]; then
    echo
    echo "## JPKI APDUs per flow (short form; INS counts, then the sequence)"
    echo
    for variant in $variants; do
        for flow in $flows; do
            for role in ours opensc; do
                key=$variant-$role-$flow
                [ -n "${res_total[$key]:-}" ] || continue
                echo "- $variant, flow $flow, $role (${res_jpki[$key]} JPKI, ${res_chal[$key]} GET CHALLENGE): ${res_jins[$key]%;}"
                echo "  - ${res_seq[$key]}"
            done
        done
    done
fi
[ -n "$keep" ] && { echo; echo "Traces and outputs kept in $keep."; }
exit 0
