#!/usr/bin/env bash
# bench/apdu-count.sh [options]
#
# APDU-count benchmark: for each user flow, how many APDUs our module and OpenSC's module send
# to the same virtual My Number Card, read from the card's own trace (jpki-vcard --trace). Each
# flow of each module runs in its own tests/pcsc/with-vcard.sh (fresh pcscd, fresh card, fresh
# process), so no flow profits from another's cache. Prints a Markdown table on stdout.
# A benchmark, not a test: it prints figures and exits 0, also when a module fails a flow
# ("n/a"); it exits 2 only when its own tooling is broken (no virtual card, no pkcs11-tool, ...).
#
# Options:
#   --ours PATH|none     our module (default: <build>/jpki-pkcs11.so when it exists)
#   --opensc PATH|none   OpenSC's module (default: /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so)
#   --flows "1 2 3 4"    which flows to run (default: all four)
#   --signatures N       signatures in flow 4 (default: 10)
#   --vcard-arg ARG      pass ARG to jpki-vcard (repeatable), e.g. --vcard-arg --reselect-clears
#   --sequences          also print, per module and flow, the JPKI APDUs in compressed form
#   --keep DIR           keep every trace and command output in DIR
#
# Environment: JPKI_BUILD_DIR (default <repo>/build). bench-sign-n (flow 4) is taken from
# <build>/bench/bench-sign-n (CMake target bench-sign-n) or, when absent, compiled from
# bench/sign-n.cpp into a scratch folder with c++ and pkg-config p11-kit-1.
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
#   then be wrong about it.
#   JPKI = total - foreign. The ratio is our module's TOTAL over OpenSC's JPKI count (our module
#   has no business probing for other applets, so its foreign APDUs count against it).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
build=${JPKI_BUILD_DIR:-$repo/build}
with_vcard=$repo/tests/pcsc/with-vcard.sh

die() { printf 'apdu-count: %s\n' "$*" >&2; exit 2; }
usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

ours=""
ours_given=0
opensc=/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so
flows="1 2 3 4"
signatures=10
vcard_args=()
sequences=0
keep=""
while [ $# -gt 0 ]; do
    case $1 in
        --ours) ours=${2:?}; ours_given=1; shift 2 ;;
        --opensc) opensc=${2:?}; shift 2 ;;
        --flows) flows=${2:?}; shift 2 ;;
        --signatures) signatures=${2:?}; shift 2 ;;
        --vcard-arg) vcard_args+=("${2:?}"); shift 2 ;;
        --sequences) sequences=1; shift ;;
        --keep) keep=${2:?}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[ "$ours_given" = 1 ] || ours=$build/jpki-pkcs11.so
[ "$ours" = none ] && ours=""
[ "$opensc" = none ] && opensc=""
[[ $signatures =~ ^[0-9]+$ ]] || die "--signatures wants a number"
for f in $flows; do [[ $f =~ ^[1-4]$ ]] || die "unknown flow '$f' (1..4)"; done

command -v pkcs11-tool >/dev/null || die "pkcs11-tool not found (Debian package opensc)"
[ -x "$with_vcard" ] || die "$with_vcard missing"
if [ ! -x "$build/tests/vcard/jpki-vcard" ] || [ ! -x "$build/tests/pcsc/pcsc-fixture" ]; then
    die "build the test bed first: cmake --build $build --target jpki-vcard pcsc-fixture"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/apdu-count.XXXXXX") || die "no scratch folder"
trap 'rm -rf "$work"' EXIT
if [ -n "$keep" ]; then mkdir -p "$keep" || die "cannot create $keep"; out=$keep; else out=$work; fi

# Flow 4 needs bench-sign-n; only build it when flow 4 runs.
sign_n=""
if [[ " $flows " == *" 4 "* ]]; then
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
auth_label="JPKI (User Authentication PIN)"

flow_name() {
    case $1 in
        1) echo "list tokens" ;;
        2) echo "list objects" ;;
        3) echo "login + one signature" ;;
        4) echo "$signatures signatures after one login" ;;
    esac
}

# run_flow FLOW MODULE TAG: runs the flow in a fresh fixture, leaves $out/TAG-fFLOW.trace and
# .log; returns 0 when the flow succeeded.
run_flow() {
    local flow=$1 module=$2 tag=$3
    local trace=$out/$tag-f$flow.trace log=$out/$tag-f$flow.log sig=$work/$tag-f$flow.sig
    local cmd
    rm -f "$trace" "$sig"
    case $flow in
        1) cmd=(pkcs11-tool --module "$module" -L) ;;
        2) cmd=(pkcs11-tool --module "$module" --token-label "$auth_label" -O) ;;
        3) cmd=(pkcs11-tool --module "$module" --token-label "$auth_label" --login --pin 1234
                --sign --id 01 -m SHA256-RSA-PKCS -i "$work/data.bin" -o "$sig") ;;
        4) cmd=("$sign_n" "$module" "$signatures" "$auth_label" 1234 01) ;;
    esac
    "$with_vcard" "${vcard_args[@]}" --trace "$trace" -- "${cmd[@]}" >"$log" 2>&1
    local rc=$?
    [ -e "$trace" ] || { cat "$log" >&2; die "the virtual card never started (see above)"; }
    [ "$rc" = 0 ] || return 1
    case $flow in
        3) [ -s "$sig" ] || return 1 ;;
        4) grep -q "^OK $signatures signatures" "$log" || return 1 ;;
    esac
    return 0
}

# classify TRACE: prints "total foreign jpki", then lines "foreign-ins ...", "foreign-odd ...",
# "jpki-ins ...", "seq ..." (see the rule at the top of this file).
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
        if (ins == "B0") return "READ"
        if (ins == "20") return (length(cmd) <= 10 ? "VERIFY-empty" : "VERIFY-PIN") "(" sw ")"
        if (ins == "2A") return "SIGN(" sw ")"
        if (ins == "24") return "CHANGE-PIN(" sw ")"
        if (ins == "84") return "GET-CHALLENGE"
        return "INS-" ins "(" sw ")"
    }
    BEGIN { owner = "none"; total = foreign = 0; n = 0 }
    /^# / { if ($2 == "power" && $3 == "on" || $2 == "reset") owner = "none"; next }
    NF < 2 { next }
    {
        cmd = toupper($1); sw = $2; ins = substr(cmd, 3, 2); p1 = substr(cmd, 5, 2)
        total++
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
        print total, foreign, total - foreign
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

declare -A res_total res_foreign res_jpki res_fins res_fother res_fodd res_jins res_seq res_fail
for flow in $flows; do
    for role in ours opensc; do
        module=${!role}
        [ -n "$module" ] || continue
        key=$role-$flow
        if [ ! -r "$module" ]; then res_fail[$key]="module not found: $module"; continue; fi
        if ! run_flow "$flow" "$module" "$role"; then
            res_fail[$key]="flow failed: $(grep -v '^$' "$out/$role-f$flow.log" | tail -n 1)"
        fi
        {
            read -r t f j
            while read -r kind rest; do
                case $kind in
                    foreign-ins) res_fins[$key]=$rest ;;
                    foreign-other) res_fother[$key]=$rest ;;
                    foreign-odd) res_fodd[$key]=$rest ;;
                    jpki-ins) res_jins[$key]=$rest ;;
                    seq) res_seq[$key]=$rest ;;
                esac
            done
        } < <(classify "$out/$role-f$flow.trace")
        res_total[$key]=$t res_foreign[$key]=$f res_jpki[$key]=$j
    done
done

ok() { [ -n "${res_total[$1]:-}" ] && [ -z "${res_fail[$1]:-}" ]; }

echo "## APDU count per user flow (virtual My Number Card, fresh card and process per flow)"
echo
echo "| flow | our module: total / JPKI APDUs | OpenSC: total / foreign / JPKI APDUs | ratio (ours ÷ OpenSC JPKI) |"
echo "|---|---|---|---|"
for flow in $flows; do
    o=ours-$flow s=opensc-$flow
    if ok "$o"; then ocell="${res_total[$o]} / ${res_jpki[$o]}"; else ocell="n/a"; fi
    if ok "$s"; then scell="${res_total[$s]} / ${res_foreign[$s]} / ${res_jpki[$s]}"; else scell="n/a"; fi
    ratio="n/a"
    if ok "$o" && ok "$s" && [ "${res_jpki[$s]}" -gt 0 ]; then
        ratio=$(awk -v a="${res_total[$o]}" -v b="${res_jpki[$s]}" 'BEGIN { r = a / b; printf "%.2f%s", r, (r <= 0.5 ? "" : " (target ≤ 0.50)") }')
    fi
    echo "| $flow. $(flow_name "$flow") | $ocell | $scell | $ratio |"
done
echo
cat <<'EOF'
Foreign = another card driver's probing, from the trace: a SELECT by AID of any AID other than
the JPKI AP (D392F000260100000001), plus every APDU sent while no JPKI AID select has happened
since power-on/reset or after such a foreign SELECT; everything else is JPKI. JPKI = total -
foreign. The ratio divides our module's total (foreign included) by OpenSC's JPKI APDUs; the
target is at most 0.50. Flows: 1 `pkcs11-tool -L`; 2 `pkcs11-tool --token-label "JPKI (User
Authentication PIN)" -O`; 3 the same token, `--login --pin 1234 --sign --id 01 -m SHA256-RSA-PKCS`;
4 `bench-sign-n`: one C_Login, then N C_Sign (CKM_SHA256_RSA_PKCS) in one session.
EOF
echo
echo "### Audit: APDUs counted foreign, by INS and status word"
echo
for flow in $flows; do
    for role in ours opensc; do
        key=$role-$flow
        [ -n "${res_total[$key]:-}" ] || continue
        line="- flow $flow, $role${res_fail[$key]:+ (flow failed)}: ${res_foreign[$key]} foreign"
        [ "${res_foreign[$key]}" -gt 0 ] && line+=" — ${res_fins[$key]%;}"
        [ -n "${res_fother[$key]}" ] && line+=" — the non-SELECT ones: ${res_fother[$key]%;}"
        echo "$line"
        [ -n "${res_fodd[$key]}" ] &&
            echo "  - WARNING: JPKI-looking commands counted foreign (check the rule): ${res_fodd[$key]%;}"
    done
done
failures=0
for key in "${!res_fail[@]}"; do failures=1; done
if [ "$failures" = 1 ]; then
    echo
    echo "### Flows that gave n/a"
    echo
    for flow in $flows; do
        for role in ours opensc; do
            [ -n "${res_fail[$role-$flow]:-}" ] && echo "- flow $flow, $role: ${res_fail[$role-$flow]}"
        done
    done
fi
if [ "$sequences" = 1 ]; then
    echo
    echo "### JPKI APDUs per flow (compressed; INS counts, then the sequence)"
    echo
    for flow in $flows; do
        for role in ours opensc; do
            key=$role-$flow
            [ -n "${res_total[$key]:-}" ] || continue
            echo "- flow $flow, $role (${res_jpki[$key]} JPKI): ${res_jins[$key]%;}"
            echo "  - ${res_seq[$key]}"
        done
    done
fi
[ -n "$keep" ] && { echo; echo "Traces and outputs kept in $keep."; }
exit 0
