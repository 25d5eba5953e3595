#!/usr/bin/env bash
# e2e.firefox-client-auth: Firefox ESR logs in to a website with the card's authentication
# certificate.
#
# - A fresh Firefox profile (in a mktemp folder) gets jpki-pkcs11.so with modutil and a throwaway
#   CA that issued the test server's certificate (certutil -t "C,,").
# - `openssl s_server -www -tls1_2 -Verify 1 -CAfile tests/pki/auth-ca.pem` on loopback asks
#   for a client certificate and prints the one it got in the page. TLS 1.2 in the first three
#   runs, with the virtual card's default (no RSA-PSS): under the module's default `pss = auto`
#   the first login's proof finds none (P1 04 answered 6A86) and Firefox signs PKCS#1 v1.5.
# - Firefox runs headless with Marionette (no geckodriver; lib-firefox/marionette.py), in a
#   private network namespace (only loopback) and a private PID namespace (nothing outlives it),
#   behind tests/pcsc/with-vcard.sh. Chrome-side observers record every dialog: the PIN prompt
#   gets 1234 only if it names "JPKI (User Authentication PIN)"; any other prompt is cancelled.
# - Two runs, each with its own card and profile: security.default_personal_cert =
#   "Select Automatically" (no chooser may appear) and Firefox's default "Ask Every Time" (the
#   chooser must list our certificate before any PIN prompt: NSS lists it without a login).
# - A third run, "policy", gives Firefox the module only through the enterprise policy of
#   docs/firefox.md: a profile without the module, and the policies.json the doc shows (taken
#   from the doc's ```json block, byte for byte; docs/ja/firefox.md must show the same) at
#   /etc/firefox/policies/policies.json, with the build's module at the path it names. Both exist
#   only in the run's private mount namespace: an overlay on /etc and a private copy of
#   /usr/lib/x86_64-linux-gnu/pkcs11 bind-mounted there, gone with the namespace even when the
#   test is killed; the machine's /etc is never written. The run must load the module from that
#   path under the policy's name, and log in as the others do.
# - A fourth run, "tls13-pss" (issue 12): a card with RSA-PSS (jpki-vcard --pss) whose proof is
#   made first by another program's login (certutil -K with the PIN, the module's default `auto`;
#   the cache is the run's XDG_CACHE_HOME, the one Firefox then uses), and a TLS 1.3-only server
#   (`-tls1_3`). Firefox starts after the proof (NSS reads a token's mechanisms when it starts),
#   so it finds RSA-PSS listed, and must log in: the page shows TLS 1.3, the card made RSA-PSS
#   signatures (P1 04 answered 9000) and no PKCS#1 v1.5 one.
# - A fifth run, "tls13-first-login": the same card and server, no proof before. The first
#   Firefox session asks for the PIN, and that login proves the card's RSA-PSS, but Firefox read
#   the token's mechanisms at its start: it sends no certificate
#   (SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT). Firefox started again (same profile and cache)
#   logs in as in "tls13-pss": what docs/firefox.md tells the user ("restart Firefox").
# Each run passes when the server's page shows our authentication certificate, exactly one PIN
# prompt came and it named the authentication token, Firefox saw no signature token, and the
# card's trace shows a VERIFY of the authentication PIN (EF 0018) and nothing under the
# signature PIN's EF 001B; the server verified the certificate, over the run's TLS version, and
# the card signed as that version needs (TLS 1.2 here: PKCS#1 v1.5; TLS 1.3: RSA-PSS only).
# Exit 0 pass, 77 skip (firefox-esr not installed, or outside CI no mount namespace for the
# policy run), anything else fail. KEEP_WORK=1 keeps the
# scratch folder (logs, traces, the driver's result.json).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
src=${JPKI_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${JPKI_BUILD_DIR:-$src/build}
module="$build/jpki-pkcs11.so"
installed_dir=/usr/lib/x86_64-linux-gnu/pkcs11   # the module's folder in the Debian package
python=/usr/bin/python3
auth_token="JPKI (User Authentication PIN)"
auth_pin=1234
auth_cn=20250301AUTH0JPKITEST0000001A

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
note() { printf 'firefox-client-auth: %s\n' "$*" >&2; }

# Namespaces: a private network (loopback only: nothing leaves the machine) and a private PID
# namespace (nothing Firefox starts can outlive it: when its first process dies, the kernel kills
# the rest). Not root: inside a user namespace.
namespaces() {
    if [ "$(id -u)" = 0 ]; then
        ns=(unshare --net --pid --fork --kill-child --mount-proc)
    else
        ns=(unshare --user --map-root-user --net --pid --fork --kill-child --mount-proc)
    fi
}

# ---------------------------------------------------------------------------------------------
# Middle part: the COMMAND of with-vcard.sh. Runs the inner part in the namespaces. unshare
# ignores SIGTERM, so a TERM or INT here (with-vcard.sh being stopped) kills unshare, and with it
# (--kill-child) the whole PID namespace.
if [ "${1:-}" = --ns ]; then
    shift
    ns=()
    [ "${JPKI_E2E_NETNS:-0}" = 1 ] && namespaces
    "${ns[@]}" bash "$self" --inner "$@" &
    child=$!
    if [ ${#ns[@]} -gt 0 ]; then
        trap 'kill -KILL "$child" 2>/dev/null; wait "$child"; exit 143' TERM INT
    else
        trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 143' TERM INT
    fi
    wait "$child"
    exit $?
fi

# ---------------------------------------------------------------------------------------------
# Inner part: inside with-vcard.sh (PCSCLITE_CSOCK_NAME set), in the namespaces when available.
# Starts the server and Firefox, drives Firefox, stops both. Everything runs in the background
# and is waited for, so that a signal stops it at once.
if [ "${1:-}" = --inner ]; then
    work=$2     # shared: the server's certificate and key
    run=$3      # this run: profile, logs, result.json
    firefox=$4
    policy=${5:-}   # the policies.json to show at /etc/firefox/policies (policy run), or ""
    if [ "${JPKI_E2E_NETNS:-0}" = 1 ]; then
        ip link set lo up || { echo "cannot bring up loopback in the network namespace" >&2; exit 2; }
    fi
    if [ -n "$policy" ]; then
        # In this mount namespace only (never the machine's): /etc gets the policy through an
        # overlay whose changes land in the run's folder, and the installed module path the
        # policy names holds the build's module.
        [ "${JPKI_E2E_NETNS:-0}" = 1 ] || { echo "the policy run needs the private mount namespace" >&2; exit 2; }
        mkdir -p "$run/etc-upper" "$run/etc-work" "$run/pkcs11" &&
            mount -t overlay jpki-e2e-etc -o "lowerdir=/etc,upperdir=$run/etc-upper,workdir=$run/etc-work" /etc &&
            mkdir -p /etc/firefox/policies && cp "$policy" /etc/firefox/policies/policies.json &&
            cp -a "$installed_dir/." "$run/pkcs11/" && cp "$module" "$run/pkcs11/jpki-pkcs11.so" &&
            mount --bind "$run/pkcs11" "$installed_dir" ||
            { echo "cannot place the policy and the module in the private mount namespace" >&2; exit 2; }
    fi
    server_pid="" firefox_pid="" driver_pid=""
    stop() {   # TERM, up to 10 s, then KILL; by PID only
        local pid=$1
        [ -n "$pid" ] || return 0
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        return 0
    }
    finish() {
        stop "$driver_pid"
        # Firefox normally quits through Marionette; give it a moment before stopping it.
        if [ -n "$firefox_pid" ]; then
            for _ in $(seq 100); do kill -0 "$firefox_pid" 2>/dev/null || break; sleep 0.1; done
            stop "$firefox_pid"
        fi
        stop "$server_pid"
    }
    trap finish EXIT
    trap 'exit 143' TERM INT

    port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    openssl s_server -accept "127.0.0.1:$port" -cert "$work/server.pem" -key "$work/server-key.pem" \
        "-${JPKI_E2E_TLS:-tls1_2}" -Verify 1 -CAfile "$src/tests/pki/auth-ca.pem" -www \
        >"$run/s_server.log" 2>&1 </dev/null &
    server_pid=$!
    for _ in $(seq 100); do grep -q '^ACCEPT' "$run/s_server.log" 2>/dev/null && break; sleep 0.1; done
    grep -q '^ACCEPT' "$run/s_server.log" || { echo "openssl s_server did not start:" >&2; cat "$run/s_server.log" >&2; exit 2; }

    rm -f "$run/profile/MarionetteActivePort"
    # Whatever configures the module from outside would change which slots it shows: the slot
    # profile must come from the process name alone.
    env -u JPKI_PKCS11_SLOTS -u JPKI_PKCS11_ALLOW_FINAL_TRY -u JPKI_PKCS11_ALWAYS_AUTH \
        -u JPKI_PKCS11_PSS -u JPKI_PKCS11_LOG \
        HOME="$run/home" XDG_CONFIG_HOME="$run/home/.config" XDG_CACHE_HOME="$run/home/.cache" \
        XDG_DATA_HOME="$run/home/.local/share" TMPDIR="$run/tmp" MOZ_CRASHREPORTER_DISABLE=1 \
        "$firefox" --headless --no-remote --profile "$run/profile" \
        --marionette --remote-allow-system-access about:blank \
        >"$run/firefox.log" 2>&1 </dev/null &
    firefox_pid=$!
    for _ in $(seq 600); do
        [ -s "$run/profile/MarionetteActivePort" ] && break
        kill -0 "$firefox_pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -s "$run/profile/MarionetteActivePort" ] ||
        { echo "Firefox did not start Marionette within 60 s:" >&2; tail -n 30 "$run/firefox.log" >&2; exit 2; }

    timeout -k 5 120 "$python" -B "$here/lib-firefox/drive-client-auth.py" \
        --port "$(cat "$run/profile/MarionetteActivePort")" --url "https://127.0.0.1:$port/" \
        --token "$auth_token" --pin "$auth_pin" --cert "$auth_cn" --out "$run/result.json" --timeout 100 </dev/null &
    driver_pid=$!
    wait "$driver_pid"
    status=$?
    driver_pid=""
    exit "$status"
fi

# ---------------------------------------------------------------------------------------------
# Outer part.
firefox=${FIREFOX:-}
if [ -z "$firefox" ]; then
    firefox=$(command -v firefox-esr) || { echo "SKIP: firefox-esr is not installed (Debian package firefox-esr)"; exit 77; }
fi
for tool in certutil modutil; do
    command -v "$tool" >/dev/null || fail "$tool not found (Debian package libnss3-tools)"
done
command -v openssl >/dev/null || fail "openssl not found"
[ -x "$python" ] || fail "$python not found (Debian package python3)"
[ -r "$module" ] || fail "$module not found (build first, or set JPKI_BUILD_DIR)"
[ -x "$src/tests/pcsc/with-vcard.sh" ] || fail "tests/pcsc/with-vcard.sh not found under $src"

work=$(mktemp -d "${TMPDIR:-/tmp}/e2e-firefox.XXXXXX") || fail "cannot create a scratch folder"
trap '[ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$work"' EXIT
mkdir -p "$work/profile"

# The enterprise policy exactly as docs/firefox.md shows it (its one ```json block); the Japanese
# page shows the same file.
json_block() { awk '/^```json$/ { on = 1; next } on && /^```$/ { exit } on' "$1"; }
json_block "$src/docs/firefox.md" >"$work/policies.json"
[ -s "$work/policies.json" ] || fail "docs/firefox.md has no json block (the enterprise policy)"
json_block "$src/docs/ja/firefox.md" | cmp -s - "$work/policies.json" ||
    fail "docs/ja/firefox.md does not show the same policies.json as docs/firefox.md"
policy_library=$("$python" -c 'import json, sys; add = json.load(open(sys.argv[1]))["policies"]["SecurityDevices"]["Add"]; [(n, l)] = add.items(); print(n); print(l)' "$work/policies.json") ||
    fail "the policy in docs/firefox.md is not one SecurityDevices.Add entry"
policy_name=$(sed -n 1p <<<"$policy_library")
policy_library=$(sed -n 2p <<<"$policy_library")
[ "$policy_library" = "$installed_dir/jpki-pkcs11.so" ] || fail "the policy names $policy_library, not $installed_dir/jpki-pkcs11.so"

# A throwaway CA and a loopback server certificate it issues.
{
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=jpki-pkcs11 e2e throwaway CA" -keyout "$work/ca-key.pem" -out "$work/ca.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign &&
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$work/server-key.pem" -out "$work/server.csr" &&
    openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" \
        -CAcreateserial -days 2 -out "$work/server.pem" \
        -extfile <(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n')
} >"$work/openssl.log" 2>&1 || { cat "$work/openssl.log" >&2; fail "cannot make the test server's certificate"; }

# The profile: NSS DB with the CA trusted for TLS servers (profile-policy, for the policy run),
# then a copy with our module (profile), then prefs in both.
# modutil loads the module once: point it at no pcscd so it never touches a real reader.
{
    certutil -N -d "sql:$work/profile" --empty-password &&
    certutil -A -d "sql:$work/profile" -n "jpki-pkcs11 e2e throwaway CA" -t "C,," -i "$work/ca.pem" &&
    cp -a "$work/profile" "$work/profile-policy" &&
    PCSCLITE_CSOCK_NAME="$work/no-pcscd.comm" timeout 30 \
        modutil -dbdir "sql:$work/profile" -add "My Number Card (JPKI)" -libfile "$module" -force
} >"$work/nss.log" 2>&1 </dev/null || { cat "$work/nss.log" >&2; fail "cannot prepare the Firefox profile's NSS database"; }
! grep -qs jpki-pkcs11 "$work/profile-policy/pkcs11.txt" || fail "the policy run's profile already has the module"
cat >"$work/profile/user.js" <<'EOF'
user_pref("marionette.port", 0);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.page", 0);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.aboutwelcome.enabled", false);
user_pref("browser.newtabpage.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("app.update.disabledForTesting", true);
user_pref("app.normandy.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("extensions.getAddons.cache.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("network.trr.mode", 5);
user_pref("network.proxy.type", 0);
user_pref("security.OCSP.enabled", 0);
user_pref("security.remote_settings.crlite_filters.enabled", false);
user_pref("services.settings.server", "http://127.0.0.1:1/");
EOF
cp "$work/profile/user.js" "$work/profile-policy/user.js"

namespaces
if command -v ip >/dev/null && "${ns[@]}" true 2>/dev/null; then
    export JPKI_E2E_NETNS=1
else
    note "no network/PID namespace here; running on the machine's loopback"
    export JPKI_E2E_NETNS=0
fi

# One Firefox run against a fresh virtual card: $1 names it, $2 is the value of
# security.default_personal_cert, $3 "policy" for the module through the enterprise policy only,
# "tls13-pss" for a card with RSA-PSS, proven before Firefox starts, and a TLS 1.3-only server.
# Everything it writes goes to $work/$1.
run_pid=""
trap '[ -n "$run_pid" ] && { kill -TERM "$run_pid" 2>/dev/null; wait "$run_pid"; }; exit 143' TERM INT
firefox_run() {
    local run="$work/$1" mode=$2 how=${3:-modutil} status policy="" card=() tls=tls1_2
    mkdir -p "$run/home/.cache" "$run/tmp"
    if [ "$how" = policy ]; then
        cp -a "$work/profile-policy" "$run/profile"
        policy="$work/policies.json"
    else
        cp -a "$work/profile" "$run/profile"
    fi
    printf 'user_pref("security.default_personal_cert", "%s");\n' "$mode" >>"$run/profile/user.js"
    if [ "$how" = tls13-pss ]; then
        card=(--pss) tls=tls1_3
        prove_pss "$1" "$run" || { show_logs "$run"; fail "$1: the proof before Firefox's start failed"; }
    elif [ "$how" = tls13-restart ]; then
        # The first session is the proof: it fails, then Firefox is started again.
        card=(--pss) tls=tls1_3
        firefox_session "$1" "$run" "$tls" "" --pss
        first_session_check "$1" "$run" || { show_logs "$run"; fail "$1: see above"; }
        for f in result.json s_server.log firefox.log trace.txt; do mv "$run/$f" "$run/first-$f"; done
    fi
    firefox_session "$1" "$run" "$tls" "$policy" ${card[@]+"${card[@]}"}
    status=$session_status
    if [ ! -s "$run/result.json" ]; then
        show_logs "$run"
        fail "$1: Firefox was not driven to the end (status $status)"
    fi
    check "$1" "$run" "$mode" "$tls" || { show_logs "$run"; fail "$1: see above"; }
    [ "$status" = 0 ] || { show_logs "$run"; fail "$1: the Firefox run ended with status $status"; }
    if [ "$how" = policy ]; then
        "$python" - "$run/result.json" "$policy_name" "$policy_library" <<'EOF' || { show_logs "$run"; fail "$1: see above"; }
import json, sys
result, name, library = sys.argv[1:]
ours = [(m["name"], m["library"]) for m in json.load(open(result))["modules"] if "jpki" in (m["library"] or "")]
if ours != [(name, library)]:
    sys.exit(f"FAIL: policy: Firefox should have loaded {name!r} from {library!r} (the policy), loaded {ours}")
print(f"ok: policy: Firefox loaded {name!r} from {library} through /etc/firefox/policies/policies.json")
EOF
    fi
}

# firefox_session NAME RUN TLS POLICY [jpki-vcard options]: one Firefox session behind a fresh
# run of the virtual card (trace in RUN/trace.txt) against a fresh server taking only TLS
# (tls1_2, tls1_3); its exit status in session_status.
firefox_session() {
    local name=$1 run=$2 tls=$3 policy=$4 start
    shift 4
    start=$(date +%s)
    # In the background so that a signal to this script (ctest's timeout) stops the run at once:
    # with-vcard.sh then stops the card and pcscd, and the PID namespace takes Firefox with it.
    JPKI_E2E_TLS=$tls timeout -k 10 240 "$src/tests/pcsc/with-vcard.sh" --trace "$run/trace.txt" \
        "$@" -- bash "$self" --ns "$work" "$run" "$firefox" "$policy" &
    run_pid=$!
    wait "$run_pid"
    session_status=$?
    run_pid=""
    note "$name: Firefox run took $(( $(date +%s) - start )) s (status $session_status)"
}

# first_session_check NAME RUN: the first session of "tls13-first-login" (a card with RSA-PSS not
# proven yet, a TLS 1.3-only server): Firefox asked for the PIN once, the login ran the module's
# proof (exactly one COMPUTE DIGITAL SIGNATURE: P1 04, answered 9000), but this Firefox had read
# the token's mechanisms before, so it sent no certificate: SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT.
first_session_check() {
    "$python" - "$1" "$2" "$auth_token" <<'EOF'
import json, sys
name, run, auth_token = sys.argv[1:]
result = json.load(open(f"{run}/result.json"))
problems = []
if "SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT" not in (result.get("error") or ""):
    problems.append(f"expected SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT, got: {result.get('error')!r}")
answered = [d for d in result.get("dialogs") or [] if d["kind"] == "prompt" and d["answered"]]
if len(answered) != 1 or auth_token not in answered[0]["text"]:
    problems.append(f"expected one PIN prompt naming {auth_token!r}: {result.get('dialogs')}")
signatures = [(l.split()[0][4:6], l.split()[1].upper()) for l in open(f"{run}/trace.txt") if l.startswith("802A")]
if signatures != [("04", "9000")]:
    problems.append(f"expected the proof alone (one P1 04 answered 9000), the card got {signatures}")
for p in problems:
    print(f"FAIL: {name} (first session):", p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"ok: {name} (first session): TLS 1.3 refused as expected, the login proved RSA-PSS: {signatures}")
EOF
}

# prove_pss NAME RUN: before Firefox starts, another program logs in to the authentication token
# (certutil -K with the PIN, in the run's profile and cache, the card with RSA-PSS), so that the
# module's default `auto` proves the card's RSA-PSS once and records it in the cache. The proof
# must be in that trace: one P1 04 answered 9000.
prove_pss() {
    local name=$1 run=$2
    printf '%s\n' "$auth_pin" >"$run/pin"
    env -u JPKI_PKCS11_PSS HOME="$run/home" XDG_CONFIG_HOME="$run/home/.config" XDG_CACHE_HOME="$run/home/.cache" \
        timeout -k 10 120 "$src/tests/pcsc/with-vcard.sh" --trace "$run/proof-trace.txt" --pss -- \
        timeout -k 5 60 certutil -K -d "sql:$run/profile" -h "$auth_token" -f "$run/pin" \
        >"$run/proof.log" 2>&1 </dev/null || { cat "$run/proof.log" >&2; return 1; }
    rm -f "$run/pin"
    local proofs
    proofs=$(grep -c '^802A0480[0-9A-F]* 9000$' "$run/proof-trace.txt" || true)
    [ "$proofs" = 1 ] || { echo "FAIL: $name: no RSA-PSS proof after certutil's login (P1 04 answered 9000: $proofs)" >&2; grep '^802A\|^0020' "$run/proof-trace.txt" >&2; return 1; }
    note "$name: RSA-PSS proven by certutil's login before Firefox starts"
}

show_logs() {
    local f
    for f in proof.log first-result.json first-trace.txt firefox.log s_server.log result.json trace.txt; do
        [ -s "$1/$f" ] || continue
        echo "--- $f (last 40 lines)" >&2
        tail -n 40 "$1/$f" >&2
    done
}

# The checks, on the driver's result, the server's page and the card's trace.
check() {
    "$python" - "$1" "$2" "$3" "$4" "$auth_token" "$auth_cn" "$src/tests/pki/auth-cert.pem" <<'EOF'
import json, re, subprocess, sys
name, run, mode, tls, auth_token, auth_cn, auth_cert = sys.argv[1:]
result = json.load(open(f"{run}/result.json"))
problems = []

if result.get("error"):
    problems.append(f"Marionette: {result['error']}")

# 1. Firefox sees only the authentication token of our module (slot profile by process name).
ours = [m for m in result.get("modules") or [] if (m["library"] or "").endswith("jpki-pkcs11.so")]
tokens = [s["token"] for m in ours for s in m["slots"] if s["token"]]
if not ours:
    problems.append(f"Firefox did not load the module: {result.get('modules')}")
elif tokens != [auth_token]:
    problems.append(f"Firefox should see exactly the token {auth_token!r}, saw {tokens}")

# 2. Dialogs: one PIN prompt, ours, answered; never the signature password; the chooser only
#    with "Ask Every Time", listing our certificate before any PIN was asked for.
dialogs = result.get("dialogs") or []
prompts = [d for d in dialogs if d["kind"] == "prompt"]
choosers = [d for d in dialogs if d["kind"] == "chooser"]
for p in prompts:
    if "Digital Signature" in p["text"] or "Digital Signature" in p["title"]:
        problems.append(f"Firefox asked for the signature password: {p['text']!r}")
    elif not p["answered"]:
        problems.append(f"unexpected prompt (cancelled): {p['title']!r} {p['text']!r}")
answered = [p for p in prompts if p["answered"]]
if len(answered) != 1:
    problems.append(f"expected one PIN prompt naming {auth_token!r}, got {len(answered)}: {dialogs}")
if mode == "Select Automatically":
    if choosers:
        problems.append(f"Firefox showed the certificate chooser despite {mode!r}: {choosers}")
else:
    if not choosers or not choosers[0]["answered"]:
        problems.append(f"the certificate chooser did not offer our certificate: {dialogs}")
    elif answered and dialogs.index(choosers[0]) > dialogs.index(answered[0]):
        problems.append(f"the PIN was asked for before the chooser listed the certificate: {dialogs}")

# 3. The server's page shows the client certificate it got: ours.
page = result.get("page") or ""
pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", page, re.S)
def fingerprint(pem):
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
                         input=pem.encode(), capture_output=True)
    return out.stdout.decode().strip()
expected = fingerprint(open(auth_cert).read())
if "Client certificate" not in page:
    problems.append("the server's page shows no client certificate:\n" + page[:3000])
elif auth_cn not in page or expected not in [fingerprint(p) for p in pems]:
    problems.append("the client certificate the server got is not our authentication certificate:\n" + page[:3000])

# 3b. The server verified it, over the run's TLS version.
protocol = {"tls1_2": "TLSv1.2", "tls1_3": "TLSv1.3"}[tls]
if not re.search(rf"Protocol\s*:\s*{protocol}\s*$", page, re.M):
    problems.append(f"the server's page does not show {protocol}")
if "Verify return code: 0 (ok)" not in page:
    problems.append("the server's page does not show the client certificate verified (Verify return code: 0)")
server_log = open(f"{run}/s_server.log", errors="replace").read()
if not re.search(rf"^depth=0 C = JP, CN = {auth_cn}$", server_log, re.M) or re.search(r"^verify error", server_log, re.M):
    problems.append("the server did not verify the client certificate:\n" + server_log[-2000:])

# 4. The card: VERIFY only with EF 0018 (auth PIN) selected, nothing at all under EF 001B;
#    COMPUTE DIGITAL SIGNATURE as the TLS version needs: PKCS#1 v1.5 (P1 00) in TLS 1.2 (the
#    module's proof, one P1 04 refused with 6A86, may come first), RSA-PSS only (P1 04) in 1.3.
ef = None
verified = []
signatures = []
for line in open(f"{run}/trace.txt"):
    parts = line.split()
    if not parts or parts[0].startswith("#"):
        continue
    apdu, sw = parts[0].upper(), (parts[1] if len(parts) > 1 else "")
    if apdu.startswith("00A4020C02"):
        ef = apdu[10:14]
        if ef == "001B":
            problems.append("the module selected the signature PIN's EF 001B")
    elif apdu.startswith("00A404"):
        ef = None
    elif apdu.startswith("802A"):
        signatures.append((apdu[4:6], sw.upper()))
    elif apdu[2:4] == "20":
        if ef != "0018":
            problems.append(f"VERIFY sent with EF {ef} selected: {line.strip()}")
        if len(apdu) > 8:
            verified.append((ef, sw))
if ("0018", "9000") not in verified:
    problems.append(f"no successful VERIFY of the authentication PIN in the card's trace: {verified}")
if tls == "tls1_3":
    if not signatures or any(s != ("04", "9000") for s in signatures):
        problems.append(f"TLS 1.3: expected RSA-PSS signatures only (P1 04 answered 9000), the card got {signatures}")
elif ("00", "9000") not in signatures or any(s not in (("00", "9000"), ("04", "6A86")) for s in signatures):
    problems.append(f"TLS 1.2: expected PKCS#1 v1.5 signatures (P1 00), the card got {signatures}")

if problems:
    for p in problems:
        print(f"FAIL: {name}:", p, file=sys.stderr)
    sys.exit(1)
shown = f"chooser offered {choosers[0]['certificates']}, then " if choosers else ""
print(f"ok: {name} ({mode}, {protocol}): {shown}PIN prompt {answered[0]['text']!r}; "
      f"the server got {auth_cn}; card VERIFYs: {verified}; signatures (P1, SW): {signatures}")
EOF
}

firefox_run select-automatically "Select Automatically"
firefox_run ask-every-time "Ask Every Time"
firefox_run tls13-pss "Select Automatically" tls13-pss
firefox_run tls13-first-login "Select Automatically" tls13-restart
if [ "$JPKI_E2E_NETNS" = 1 ]; then
    firefox_run policy "Select Automatically" policy
elif [ "${CI:-}" = true ]; then
    fail "policy: no private mount namespace for the enterprise-policy run"
else
    echo "SKIP: policy: no private mount namespace for the enterprise-policy run"
    exit 77
fi
exit 0
