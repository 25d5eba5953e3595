#!/usr/bin/env bash
# e2e.ssh: OpenSSH logs in with the card's authentication key, running the commands of
# docs/ssh.md as a user with the installed package would.
#
# - A private mount, network and PID namespace (root only: unshare) holds everything: the build's
#   module is bind-mounted at the installed path /usr/lib/x86_64-linux-gnu/pkcs11/jpki-pkcs11.so
#   (a private copy of that folder), /etc/passwd is a private copy with a test user, the network
#   is loopback only (sshd's port exists nowhere else), and every process the test starts (sshd,
#   ssh-agent, ssh-pkcs11-helper) dies with the namespace, even when the test is killed. Nothing
#   on the machine changes.
# - sshd is Debian's, taken from the openssh-server package without installing it (apt-get
#   download + dpkg-deb -x into the build folder, once): installing the package would enable and
#   start an ssh service on port 22. It runs as the test user (an unprivileged sshd needs no
#   privilege-separation user, no /run/sshd, no PAM), so only that user can log in.
# - No JPKI_PKCS11_SLOTS until step 5 (unset if the caller has it): the module's table (include/jpki/slot_defaults.hpp) shows
#   ssh, ssh-keygen and ssh-agent's ssh-pkcs11-helper the authentication token only (issue 9).
#   Every step checks that the card's trace has no SELECT of the signature token's files (EF
#   0001, 0002, 001A, 001B; docs/card.md), which the module reads as soon as it shows that token.
# - Steps, each checked on the card's trace (with-vcard.sh --trace) too:
#   1. `ssh-keygen -D` gives the authorized_keys line (grep "User Authentication Public Key"): it
#      must be the key of tests/pki/auth-cert.pem, read with no PIN and no VERIFY; the signing
#      CA's key is not listed.
#   2. `ssh -I <module>` with the PIN through SSH_ASKPASS
#      (SSH_ASKPASS_REQUIRE=force; the askpass program reads it from a file) logs in and runs a
#      command whose output is checked; one prompt, one VERIFY of EF 0018. The same with
#      `PKCS11Provider <module>` in the configuration file instead of -I.
#   3. A wrong-format PIN (3 digits) is refused before any APDU: the login fails cleanly (ssh
#      exits 255, "Permission denied (publickey)", sshd accepts nothing) and no VERIFY reaches the
#      card.
#   4. The agent as the docs give it: `eval "$(ssh-agent -s)"`,
#      `ssh-add -s <installed path>` (the default allow-list /usr/lib*/*,/usr/local/lib*/* accepts
#      it; a 3-digit PIN is refused first, no VERIFY, no key added; so is the signature password,
#      which ssh-add's "Enter passphrase for PKCS#11:" invites and which would otherwise go to the
#      signature token: no VERIFY, no signature key in the agent), ssh through the agent,
#      `ssh-add -e`; the build folder's module is refused by that
#      agent, and accepted by one started with `-P <its full path>`.
#   5. `JPKI_PKCS11_SLOTS=both ssh -I` still logs in with the authentication key, one prompt, and
#      the trace shows the signature token's files read: the variable overrides the table.
# Exit 0 pass, 77 skip (outside CI only: not root, or a tool missing), anything else fail.
# KEEP_WORK=1 keeps the scratch folder (logs, trace). JPKI_E2E_SSH_PORT sets sshd's port (inside
# the private network namespace; default 42122).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
src=${JPKI_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${JPKI_BUILD_DIR:-$src/build}
module="$build/jpki-pkcs11.so"
installed_dir=/usr/lib/x86_64-linux-gnu/pkcs11
installed="$installed_dir/jpki-pkcs11.so"   # the path docs/ssh.md uses
user=jpki-ssh-test                           # exists only in the namespace's /etc/passwd
port=${JPKI_E2E_SSH_PORT:-42122}

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
note() { printf 'ssh: %s\n' "$*" >&2; }
# A missing tool fails the test in CI, and skips it elsewhere.
missing() {
    if [ "${CI:-}" = true ]; then fail "$*"; fi
    echo "SKIP: $*"
    exit 77
}

# VERIFY APDUs carrying a PIN in the card's trace, one line each ("0020008004******** 9000"). A
# VERIFY without data only reads the tries left (docs/card.md) and is not counted.
verifies() { awk '!/^#/ && substr(toupper($1), 3, 2) == "20" && length($1) > 8' "$1"; }
# SELECTs of the signature token's files (signing certificate, its CA, private key, password EF;
# docs/card.md), one line each ("00A4020C02001B 9000").
sign_files() { awk '!/^#/ && toupper($1) ~ /^00A4020C02(0001|0002|001A|001B)$/' "$1"; }

# ---------------------------------------------------------------------------------------------
# Middle part: the COMMAND of with-vcard.sh. Runs the inner part in the namespaces; unshare
# ignores SIGTERM, so a TERM or INT here kills unshare, and with it (--kill-child) the namespace.
if [ "${1:-}" = --ns ]; then
    shift
    unshare --mount --net --pid --fork --kill-child --mount-proc bash "$self" --inner "$@" &
    child=$!
    trap 'kill -KILL "$child" 2>/dev/null; wait "$child"; exit 143' TERM INT
    wait "$child"
    exit $?
fi

# ---------------------------------------------------------------------------------------------
# Inner part: inside with-vcard.sh (PCSCLITE_CSOCK_NAME set) and the namespaces.
if [ "${1:-}" = --inner ]; then
    work=$2
    trace=$3
    sshd_pid=""
    finish() {
        [ -n "${SSH_AGENT_PID:-}" ] && ssh-agent -k >/dev/null 2>&1
        if [ -n "$sshd_pid" ]; then kill -TERM "$sshd_pid" 2>/dev/null; wait "$sshd_pid" 2>/dev/null; fi
        return 0
    }
    trap finish EXIT
    trap 'exit 143' TERM INT
    ip link set lo up || fail "cannot bring up loopback in the network namespace"
    mount --bind "$work/passwd" /etc/passwd || fail "cannot bind-mount the private /etc/passwd"
    mount --bind "$work/pkcs11" "$installed_dir" || fail "cannot bind-mount the private $installed_dir"
    cmp -s "$module" "$installed" || fail "$installed is not the build's module in the namespace"

    # 1. The public key, as docs/ssh.md gives it. No PIN: the askpass program fails if asked.
    mark=$(wc -l <"$trace")
    SSH_ASKPASS="$work/no-askpass" SSH_ASKPASS_REQUIRE=force \
        ssh-keygen -D /usr/lib/x86_64-linux-gnu/pkcs11/jpki-pkcs11.so >"$work/keygen.out" 2>"$work/keygen.err" ||
        { cat "$work/keygen.err" >&2; fail "ssh-keygen -D failed"; }
    grep "User Authentication Public Key" "$work/keygen.out" >"$work/authorized_keys" ||
        { cat "$work/keygen.out" "$work/keygen.err" >&2; fail "ssh-keygen -D gave no 'User Authentication Public Key' line"; }
    ! grep -q "JPKI for digital signature" "$work/keygen.out" ||
        { cat "$work/keygen.out" >&2; fail "ssh-keygen -D listed the signing CA's key: it sees the signature token"; }
    [ "$(wc -l <"$work/authorized_keys")" = 1 ] || fail "ssh-keygen -D gave more than one authentication key: $(cat "$work/authorized_keys")"
    read -r type blob _ <"$work/authorized_keys"
    read -r etype eblob _ <"$work/expected.pub"
    [ "$type $blob" = "$etype $eblob" ] || fail "ssh-keygen -D's key is not the authentication certificate's: $(cat "$work/authorized_keys")"
    [ -z "$(tail -n +"$((mark + 1))" "$trace" | verifies /dev/stdin)" ] || fail "ssh-keygen -D made the card verify a PIN"
    [ -z "$(tail -n +"$((mark + 1))" "$trace" | sign_files /dev/stdin)" ] || fail "ssh-keygen -D read the signature token's files"
    note "ok: ssh-keygen -D: $(cut -c1-40 "$work/authorized_keys")... ($(cut -d' ' -f3- "$work/authorized_keys"))"

    # sshd, as the test user, on loopback of this namespace only.
    uid=$(id -u "$user") || fail "no user $user in the private /etc/passwd"
    timeout 170 env LD_LIBRARY_PATH="$work/sshd/usr/lib/x86_64-linux-gnu" setpriv --reuid="$uid" --regid="$uid" --clear-groups \
        "$work/sshd/usr/sbin/sshd" -D -e -f "$work/sshd_config" >"$work/sshd.log" 2>&1 </dev/null &
    sshd_pid=$!
    for _ in $(seq 100); do grep -qs 'Server listening' "$work/sshd.log" && break; kill -0 "$sshd_pid" 2>/dev/null || break; sleep 0.1; done
    grep -q 'Server listening' "$work/sshd.log" || { cat "$work/sshd.log" >&2; fail "sshd did not start"; }

    # One login: $1 the PIN the askpass program answers, then ssh's arguments. Output in
    # $work/out, stderr in $work/err, the askpass prompts in $work/askpass.log; sets $status.
    login() {
        printf '%s\n' "$1" >"$work/pin"
        shift
        : >"$work/askpass.log"
        mark=$(wc -l <"$trace")
        accepted=$(grep -c 'Accepted publickey' "$work/sshd.log")
        SSH_ASKPASS="$work/askpass" SSH_ASKPASS_REQUIRE=force timeout 60 \
            "$@" >"$work/out" 2>"$work/err" </dev/null
        status=$?
        tail -n +"$((mark + 1))" "$trace" >"$work/step-trace"
    }
    # shellcheck disable=SC2016 # expands on the server
    remote='echo "logged in as $(id -un)"'
    expected="logged in as $user"
    accepted_since() { [ "$(grep -c 'Accepted publickey' "$work/sshd.log")" -gt "$accepted" ]; }
    show() { for f in err out askpass.log step-trace; do echo "--- $f"; cat "$work/$f"; done >&2; tail -n 20 "$work/sshd.log" >&2; }

    # 3 first, so that the card has all its tries: a wrong-format PIN never reaches the card.
    login 123 env -u SSH_AUTH_SOCK \
        ssh -F "$work/ssh_config" -I /usr/lib/x86_64-linux-gnu/pkcs11/jpki-pkcs11.so "$user@127.0.0.1" "$remote"
    { [ "$status" = 255 ] && grep -q 'PKCS#11 login failed: PIN length out of range' "$work/err" &&
        grep -q 'Permission denied (publickey)' "$work/err"; } ||
        { show; fail "a 3-digit PIN: ssh should say 'PIN length out of range' and fail with 'Permission denied (publickey)' (status 255), got $status"; }
    ! accepted_since || { show; fail "a 3-digit PIN: sshd accepted a login"; }
    [ "$(grep -c . "$work/askpass.log")" = 1 ] || { show; fail "a 3-digit PIN: expected one PIN prompt"; }
    [ -z "$(verifies "$work/step-trace")" ] || { show; fail "a 3-digit PIN reached the card as a VERIFY"; }
    note "ok: a 3-digit PIN: refused, no VERIFY sent; ssh said: $(tr '\n' ' ' <"$work/err")"

    # 2. ssh -I, as the docs give it (the test adds only -F: the server's address and host key).
    login 1234 env -u SSH_AUTH_SOCK \
        ssh -F "$work/ssh_config" -I /usr/lib/x86_64-linux-gnu/pkcs11/jpki-pkcs11.so "$user@127.0.0.1" "$remote"
    { [ "$status" = 0 ] && [ "$(cat "$work/out")" = "$expected" ]; } || { show; fail "ssh -I: status $status, output '$(cat "$work/out")'"; }
    accepted_since || { show; fail "ssh -I: sshd logged no accepted public key"; }
    grep -qx "Enter PIN for 'JPKI (User Authentication PIN)': " "$work/askpass.log" ||
        { show; fail "ssh -I: the one PIN prompt should name the authentication token"; }
    [ "$(verifies "$work/step-trace" | grep -c .)" = 1 ] || { show; fail "ssh -I: expected one VERIFY"; }
    [ -z "$(sign_files "$work/step-trace")" ] || { show; fail "ssh -I read the signature token's files: it sees that token"; }
    note "ok: ssh -I: '$(cat "$work/out")'; prompt: $(cat "$work/askpass.log")"

    # The same with PKCS11Provider in the configuration file instead of -I.
    login 1234 env -u SSH_AUTH_SOCK \
        ssh -F "$work/ssh_config_provider" "$user@127.0.0.1" "$remote"
    { [ "$status" = 0 ] && [ "$(cat "$work/out")" = "$expected" ] && accepted_since; } ||
        { show; fail "PKCS11Provider in the configuration: status $status, output '$(cat "$work/out")'"; }
    [ "$(verifies "$work/step-trace" | grep -c .)" = 1 ] || { show; fail "PKCS11Provider: expected one VERIFY"; }
    [ -z "$(sign_files "$work/step-trace")" ] || { show; fail "PKCS11Provider: the signature token's files were read"; }
    note "ok: PKCS11Provider: '$(cat "$work/out")'"

    # 4. The agent as the docs give it; it ends with the namespace if the test is stopped.
    eval "$(ssh-agent -s)" >/dev/null || fail "ssh-agent did not start"
    login 1234 ssh-add -s "$module"
    { [ "$status" != 0 ] && grep -q 'agent refused operation' "$work/err"; } ||
        { show; fail "ssh-agent without -P should refuse the build folder's module, ssh-add said (status $status)"; }
    [ -z "$(verifies "$work/step-trace")" ] || { show; fail "the refused module made the card verify a PIN"; }
    note "ok: ssh-agent without -P refuses $module: $(cat "$work/err")"
    login 123 ssh-add -s /usr/lib/x86_64-linux-gnu/pkcs11/jpki-pkcs11.so
    { [ "$status" != 0 ] && grep -q 'agent refused operation' "$work/err"; } ||
        { show; fail "ssh-add -s with a 3-digit PIN should be refused, status $status"; }
    [ -z "$(verifies "$work/step-trace")" ] || { show; fail "ssh-add -s: a 3-digit PIN reached the card as a VERIFY"; }
    ! ssh-add -l 2>/dev/null | grep -q 'User Authentication' || fail "ssh-add -s with a 3-digit PIN left a key in the agent"
    # The signature password (the test card's, well-formed and right): the helper hands ssh-add's
    # one answer to every token it sees. The authentication token refuses it by its form.
    login ABC123 ssh-add -s /usr/lib/x86_64-linux-gnu/pkcs11/jpki-pkcs11.so
    { [ "$status" != 0 ] && grep -q 'agent refused operation' "$work/err"; } ||
        { show; ssh-add -l >&2; fail "ssh-add -s with the signature password should be refused (the agent must not see the signature token), status $status"; }
    [ -z "$(verifies "$work/step-trace")" ] || { show; fail "ssh-add -s: the signature password reached the card as a VERIFY"; }
    [ -z "$(sign_files "$work/step-trace")" ] || { show; fail "ssh-add -s: the agent's helper read the signature token's files"; }
    ! ssh-add -l 2>/dev/null | grep -q 'Digital Signature' || fail "the signature key is in the agent"
    note "ok: ssh-add -s with the signature password: refused, no VERIFY, no signature key in the agent"
    login 1234 ssh-add -s /usr/lib/x86_64-linux-gnu/pkcs11/jpki-pkcs11.so
    [ "$status" = 0 ] || { show; fail "ssh-add -s $installed: status $status"; }
    grep -qx "Enter passphrase for PKCS#11: " "$work/askpass.log" || { show; fail "ssh-add -s: unexpected PIN prompt"; }
    [ "$(verifies "$work/step-trace" | grep -c .)" = 1 ] || { show; fail "ssh-add -s: expected one VERIFY"; }
    grep -q 'User Authentication Public Key' <(ssh-add -l) || { ssh-add -l >&2; fail "ssh-add -l does not list the card's key"; }
    login 1234 ssh -F "$work/ssh_config" "$user@127.0.0.1" "$remote"
    { [ "$status" = 0 ] && [ "$(cat "$work/out")" = "$expected" ] && accepted_since; } || { show; fail "ssh through the agent: status $status"; }
    [ ! -s "$work/askpass.log" ] || { show; fail "ssh through the agent asked for a PIN"; }
    ssh-add -e /usr/lib/x86_64-linux-gnu/pkcs11/jpki-pkcs11.so >/dev/null 2>&1 || fail "ssh-add -e failed"
    ! ssh-add -l 2>/dev/null | grep -q 'User Authentication' || fail "ssh-add -e left the card's key in the agent"
    ssh-agent -k >/dev/null
    note "ok: ssh-agent + ssh-add -s $installed + ssh: '$(cat "$work/out")'; ssh-add -e removed it"

    eval "$(ssh-agent -s -P "$module")" >/dev/null || fail "ssh-agent -P did not start"
    login 1234 ssh-add -s "$module"
    [ "$status" = 0 ] || { show; fail "ssh-add -s $module with ssh-agent -P $module: status $status"; }
    login 1234 ssh -F "$work/ssh_config" "$user@127.0.0.1" "$remote"
    { [ "$status" = 0 ] && [ "$(cat "$work/out")" = "$expected" ]; } || { show; fail "ssh through the agent started with -P: status $status"; }
    ssh-agent -k >/dev/null
    unset SSH_AGENT_PID
    note "ok: ssh-agent -P $module + ssh-add -s + ssh: '$(cat "$work/out")'"

    # 5. The variable still overrides the table: ssh sees both tokens (and still logs in with the
    # authentication key, the only one it finds before a login).
    login 1234 env -u SSH_AUTH_SOCK JPKI_PKCS11_SLOTS=both \
        ssh -F "$work/ssh_config" -I /usr/lib/x86_64-linux-gnu/pkcs11/jpki-pkcs11.so "$user@127.0.0.1" "$remote"
    { [ "$status" = 0 ] && [ "$(cat "$work/out")" = "$expected" ] && accepted_since; } ||
        { show; fail "JPKI_PKCS11_SLOTS=both ssh -I: status $status, output '$(cat "$work/out")'"; }
    [ "$(grep -c . "$work/askpass.log")" = 1 ] || { show; fail "JPKI_PKCS11_SLOTS=both ssh -I: expected one PIN prompt"; }
    [ "$(verifies "$work/step-trace" | grep -c .)" = 1 ] || { show; fail "JPKI_PKCS11_SLOTS=both ssh -I: expected one VERIFY"; }
    [ -n "$(sign_files "$work/step-trace")" ] || { show; fail "JPKI_PKCS11_SLOTS=both ssh -I: the signature token's files were not read, the variable did not override the table"; }
    note "ok: JPKI_PKCS11_SLOTS=both ssh -I: logged in, and the module read the signature token's files"
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# Outer part. The steps check the module's defaults, which the caller's variable would replace.
unset JPKI_PKCS11_SLOTS
[ "$(id -u)" = 0 ] || missing "e2e.ssh needs root (a private mount namespace and an unprivileged sshd user)"
for tool in ssh ssh-keygen ssh-agent ssh-add; do
    command -v "$tool" >/dev/null || missing "$tool not found (Debian package openssh-client)"
done
for tool in unshare setpriv; do command -v "$tool" >/dev/null || missing "$tool not found (Debian package util-linux)"; done
command -v ip >/dev/null || missing "ip not found (Debian package iproute2)"
command -v openssl >/dev/null || missing "openssl not found"
[ -d "$installed_dir" ] || missing "$installed_dir does not exist (Debian package p11-kit-modules)"
[ -r "$module" ] || fail "$module not found (build first, or set JPKI_BUILD_DIR)"

# Debian's sshd, unpacked once into the build folder (with libwrap0, which sshd links).
cache="$build/tests/e2e/openssh-server"
if [ ! -x "$cache/usr/sbin/sshd" ]; then
    { command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null; } || missing "apt-get and dpkg-deb are needed to unpack sshd"
    dl=$(mktemp -d "${TMPDIR:-/tmp}/e2e-ssh-deb.XXXXXX") || fail "cannot create a scratch folder"
    if ! (cd "$dl" && apt-get download openssh-server libwrap0) >"$dl/log" 2>&1; then
        cat "$dl/log" >&2
        rm -rf "$dl"
        missing "cannot download openssh-server and libwrap0 (apt-get download; run apt-get update?)"
    fi
    rm -rf "$cache.new" && mkdir -p "$cache.new" || fail "cannot create $cache.new"
    for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$cache.new" || fail "cannot unpack $deb"; done
    rm -rf "$dl" "$cache" && mv "$cache.new" "$cache" || fail "cannot create $cache"
    note "unpacked sshd into $cache"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/e2e-ssh.XXXXXX") || fail "cannot create a scratch folder"
trap '[ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$work"' EXIT
chmod 755 "$work"   # the test user (sshd) reads its configuration, host key and the authorized keys

# The test user: a free uid/gid, home in the scratch folder, in a private copy of /etc/passwd.
uid=64990
while getent passwd "$uid" >/dev/null || getent group "$uid" >/dev/null; do uid=$((uid + 1)); done
cp /etc/passwd "$work/passwd" &&
    printf '%s:x:%s:%s:jpki-pkcs11 e2e.ssh:%s:/bin/sh\n' "$user" "$uid" "$uid" "$work/home" >>"$work/passwd" &&
    mkdir -p "$work/home" "$work/pkcs11" && chown "$uid:$uid" "$work/home" || fail "cannot prepare the test user"
# The folder bind-mounted at /usr/lib/x86_64-linux-gnu/pkcs11: what is there, and our module.
cp -a "$installed_dir/." "$work/pkcs11/" && cp "$module" "$work/pkcs11/jpki-pkcs11.so" || fail "cannot copy the module"

# sshd's files: a copy of the unpacked package (readable by the test user), a host key it owns.
cp -a "$cache" "$work/sshd" && chmod -R a+rX "$work/sshd" || fail "cannot copy sshd"
ssh-keygen -q -t ed25519 -N '' -C e2e-ssh-host -f "$work/host_key" && chown "$uid:$uid" "$work/host_key" ||
    fail "cannot make a host key"
cat >"$work/sshd_config" <<EOF
ListenAddress 127.0.0.1:$port
HostKey $work/host_key
PidFile none
AuthorizedKeysFile $work/authorized_keys
StrictModes no
UsePAM no
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
LogLevel VERBOSE
EOF
printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$work/host_key.pub")" >"$work/known_hosts"
cat >"$work/ssh_config" <<EOF
Host 127.0.0.1
    Port $port
    UserKnownHostsFile $work/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    PreferredAuthentications publickey
    IdentityFile none
    ControlMaster no
    ControlPath none
EOF
{ cat "$work/ssh_config"; echo "    PKCS11Provider /usr/lib/x86_64-linux-gnu/pkcs11/jpki-pkcs11.so"; } >"$work/ssh_config_provider"
# The askpass program: prints the PIN from a file (never on a command line), logs its prompt.
printf '#!/bin/sh\nprintf "%%s\\n" "$1" >>"%s/askpass.log"\ncat "%s/pin"\n' "$work" "$work" >"$work/askpass"
printf '#!/bin/sh\necho "askpass called: $1" >&2\nexit 1\n' >"$work/no-askpass"
chmod 700 "$work/askpass" "$work/no-askpass"
# The key ssh-keygen -D must give: the authentication certificate's.
ssh-keygen -i -m PKCS8 -f <(openssl x509 -in "$src/tests/pki/auth-cert.pem" -noout -pubkey) >"$work/expected.pub" ||
    fail "cannot read the public key of tests/pki/auth-cert.pem"

"$src/tests/pcsc/with-vcard.sh" --trace "$work/trace.txt" -- bash "$self" --ns "$work" "$work/trace.txt" &
run_pid=$!
trap 'kill -TERM "$run_pid" 2>/dev/null; wait "$run_pid"; exit 143' TERM INT
wait "$run_pid"
status=$?
[ "$status" = 0 ] || { [ -s "$work/sshd.log" ] && tail -n 20 "$work/sshd.log" >&2; fail "status $status (KEEP_WORK=1 keeps $work)"; }
note "pass"
exit 0
