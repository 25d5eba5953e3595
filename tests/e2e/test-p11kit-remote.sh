#!/usr/bin/env bash
# e2e.p11kit-remote: the card used from another process through `p11-kit server` and
# p11-kit-client.so, the way a container or a remote host reaches it (a unix socket; ssh or a
# bind mount carries it further).
# - `p11-kit server -f --provider jpki-pkcs11.so "pkcs11:token=JPKI (User Authentication PIN)"`
#   on a private socket: a client with P11_KIT_SERVER_ADDRESS and no access to pcscd sees only
#   that token, logs in and signs; openssl verifies. Stopped by its PID: socket removed, no
#   process left.
# - as users start it, `eval "$(p11-kit server -s ... sign token)"`: the printed
#   P11_KIT_SERVER_ADDRESS / P11_KIT_SERVER_PID lead a client to the signature token; signing
#   works; the server is stopped by P11_KIT_SERVER_PID.
# - the same without -n, as docs/gnutls-p11kit.md gives it: refused without XDG_RUNTIME_DIR
#   ("cannot determine runtime directory"); with it, the socket is made under $XDG_RUNTIME_DIR/p11-kit/.
source "$(dirname "${BASH_SOURCE[0]}")/lib-p11kit.sh"
need p11-kit p11-kit
need pkcs11-tool opensc
need pgrep procps
client_so=$p11kit_module_path/p11-kit-client.so
[ -r "$client_so" ] || skip "p11-kit-client.so not found at $client_so (Debian package p11-kit-modules)"
[ -x /usr/libexec/p11-kit/p11-kit-server ] || [ -n "$(ls /usr/lib*/p11-kit/p11-kit-server 2>/dev/null)" ] ||
    skip "p11-kit server not available (Debian package p11-kit)"

auth_uri='pkcs11:token=JPKI%20%28User%20Authentication%20PIN%29'
sign_uri='pkcs11:token=JPKI%20%28Digital%20Signature%20PIN%29'
head -c 4000 /dev/urandom >"$work/data"
mkdir -p "$work/client-home"

cat >"$work/steps.sh" <<'EOF'
# Runs inside with-vcard.sh: the servers reach pcscd; clients run without PCSCLITE_CSOCK_NAME
# (a pcscd they could reach would prove nothing) and with a HOME of their own.
set -u
cd "$work"
server_pid="" daemon_pid=""
stop_servers() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null
    server_pid="" daemon_pid=""
}
trap stop_servers EXIT
trap 'exit 143' TERM INT
step_fail() { echo "STEP FAILED: $*"; exit 1; }
client() { env -u PCSCLITE_CSOCK_NAME HOME="$work/client-home" P11_KIT_SERVER_ADDRESS="$1" \
               pkcs11-tool --module "$client_so" "${@:2}"; }
wait_for() { for _ in $(seq 100); do eval "$1" && return 0; sleep 0.05; done; return 1; }

# 1. Foreground server, our child. --timeout: a safety net should this script die unseen.
p11-kit server -f --timeout 60 -n "$work/fg.sock" --provider "$module_so" "$auth_uri" \
    >server.out 2>&1 &
server_pid=$!
wait_for '[ -S "$work/fg.sock" ]' || step_fail "p11-kit server made no socket: $(cat server.out)"
client "unix:path=$work/fg.sock" -L >fg-list.txt 2>&1 || step_fail "client -L: $(cat fg-list.txt)"
client "unix:path=$work/fg.sock" --login --pin "$auth_pin" --sign --id 01 -m SHA256-RSA-PKCS \
    -i data -o fg-auth.sig >fg-sign.txt 2>&1 || step_fail "client login+sign: $(cat fg-sign.txt)"
# Each connection is served by a p11-kit-remote child, gone once its client is.
wait_for '[ -z "$(pgrep -P "$server_pid")" ]' || step_fail "p11-kit-remote children outlive their clients"
kill "$server_pid"; wait "$server_pid"; server_pid=""
[ -e "$work/fg.sock" ] && step_fail "the server left its socket behind"

# 2. Daemon, as users start it: it prints the variables for the client.
p11-kit server -s --timeout 60 -n "$work/bg.sock" --provider "$module_so" "$sign_uri" >bg.env 2>&1 ||
    step_fail "p11-kit server (daemon) failed: $(cat bg.env)"
eval "$(cat bg.env)"
daemon_pid=${P11_KIT_SERVER_PID:-}
[ -n "$daemon_pid" ] || step_fail "p11-kit server printed no P11_KIT_SERVER_PID: $(cat bg.env)"
[ "${P11_KIT_SERVER_ADDRESS:-}" = "unix:path=$work/bg.sock" ] ||
    step_fail "unexpected P11_KIT_SERVER_ADDRESS: ${P11_KIT_SERVER_ADDRESS:-}"
# `p11-kit server -s` may return before its daemon has made the socket; a client started then
# finds no server and shows "No slots" (this made the test fail about one run in three).
wait_for '[ -S "$work/bg.sock" ]' || step_fail "the daemon made no socket: $(cat bg.env)"
client "$P11_KIT_SERVER_ADDRESS" -L >bg-list.txt 2>&1 || step_fail "daemon client -L: $(cat bg-list.txt)"
client "$P11_KIT_SERVER_ADDRESS" --login --pin "$sign_pin" --sign --id 02 -m SHA256-RSA-PKCS \
    -i data -o bg-sign.sig >bg-sign.txt 2>&1 || step_fail "daemon client login+sign: $(cat bg-sign.txt)"
kill "$P11_KIT_SERVER_PID"
wait_for '! kill -0 "$daemon_pid" 2>/dev/null || [ "$(ps -o stat= -p "$daemon_pid")" = Z ]' ||
    step_fail "the daemon did not stop on SIGTERM"
daemon_pid=""

# 3. The documented command, with no -n: the socket goes into $XDG_RUNTIME_DIR/p11-kit/, and
# without XDG_RUNTIME_DIR the server refuses to start (docs/gnutls-p11kit.md says both).
env -u XDG_RUNTIME_DIR p11-kit server -s --timeout 60 --provider "$module_so" "$sign_uri" >noxdg.env 2>&1 &&
    step_fail "p11-kit server started without XDG_RUNTIME_DIR: $(cat noxdg.env)"
grep -q 'cannot determine runtime directory' noxdg.env ||
    step_fail "p11-kit server without XDG_RUNTIME_DIR: unexpected message: $(cat noxdg.env)"
mkdir -m 700 "$work/xdg"
XDG_RUNTIME_DIR="$work/xdg" p11-kit server -s --timeout 60 --provider "$module_so" "$sign_uri" >xdg.env 2>&1 ||
    step_fail "p11-kit server with XDG_RUNTIME_DIR failed: $(cat xdg.env)"
eval "$(cat xdg.env)"
daemon_pid=${P11_KIT_SERVER_PID:-}
[ -n "$daemon_pid" ] || step_fail "p11-kit server printed no P11_KIT_SERVER_PID: $(cat xdg.env)"
case ${P11_KIT_SERVER_ADDRESS:-} in
    "unix:path=$work/xdg/p11-kit/"*) ;;
    *) step_fail "the socket is not under XDG_RUNTIME_DIR: ${P11_KIT_SERVER_ADDRESS:-}" ;;
esac
# The daemon may still be making its socket when `p11-kit server -s` returns.
wait_for '[ -S "${P11_KIT_SERVER_ADDRESS#unix:path=}" ]' || step_fail "no socket at $P11_KIT_SERVER_ADDRESS"
kill "$P11_KIT_SERVER_PID"
wait_for '! kill -0 "$daemon_pid" 2>/dev/null || [ "$(ps -o stat= -p "$daemon_pid")" = Z ]' ||
    step_fail "the XDG daemon did not stop on SIGTERM"
daemon_pid=""
EOF
in_vcard -- env work="$work" module_so="$module_so" client_so="$client_so" auth_uri="$auth_uri" \
    sign_uri="$sign_uri" auth_pin="$auth_pin" sign_pin="$sign_pin" bash "$work/steps.sh" \
    >"$work/steps.txt" 2>&1
status=$?
for f in steps fg-list fg-sign bg-list bg-sign; do
    [ -e "$work/$f.txt" ] && { echo "---- $f"; cat "$work/$f.txt"; }
done
[ $status = 0 ] || fail "remote use failed (status $status)"

# The foreground server served the auth token only, the daemon the sign token only.
grep -q "token label *: $auth_token\$" "$work/fg-list.txt" || fail "remote client: auth token not listed"
grep -q "token label *: $sign_token" "$work/fg-list.txt" && fail "remote client sees the sign token it was not given"
grep -q 'token manufacturer *: J-LIS$' "$work/fg-list.txt" || fail "remote client: not jpki-pkcs11's token"
grep -q "token label *: $sign_token\$" "$work/bg-list.txt" || fail "daemon client: sign token not listed"
grep -q "token label *: $auth_token" "$work/bg-list.txt" && fail "daemon client sees the auth token it was not given"
verify_sig auth "$work/data" "$work/fg-auth.sig"
verify_sig sign "$work/data" "$work/bg-sign.sig"
echo "PASS: p11-kit server + p11-kit-client.so: list, login and sign from another process"
