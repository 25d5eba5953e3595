#!/usr/bin/env bash
# NSS (the library under Firefox and LibreOffice): the module added to a fresh NSS database with
# `modutil -add`, certificates listed with `certutil -L -h all`, per slot profile: "both" for
# NSS's own tools, the browser profile (auth slot only) and LibreOffice's (sign slot only) chosen
# by process name or JPKI_PKCS11_SLOTS. Listing never needs the 4-digit PIN (the auth token is a
# public-certificates token); the signing certificate appears only after the sign password.
source "$(dirname "$0")/lib-nss.sh"
need certutil libnss3-tools
need modutil libnss3-tools
e2e_setup

db=$work/nssdb
nss_new_db "$db"
auth_cn=$(cert_cn auth)
sign_cn=$(cert_cn sign)

# One card session: every listing below, each into its own file.
list() {  # list NAME [env...] -- certutil args
    local name=$1; shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    nss env ${envs[@]+"${envs[@]}"} "$@" >"$work/$name.out" 2>"$work/$name.err"
    echo $? >"$work/$name.rc"
    echo "== $name" >>"$work/trace"
}
export -f list nss
export work E2E_CLIENT_TIMEOUT
# Browsers and LibreOffice are recognised by process name (/proc/self/comm): run certutil under
# their names.
# At a terminal (docs/nss-tools.md): `-h all` asks for the signature password, naming the
# authentication token lists without any prompt.
tty_ctrl_d=$(cd "$(dirname "$0")" && pwd)/tty-ctrl-d.py
mkdir -p "$work/bin"
ln -s "$(command -v certutil)" "$work/bin/firefox"
ln -s "$(command -v certutil)" "$work/bin/soffice.bin"

in_vcard -- bash -c "
    list modutil -- modutil -dbdir 'sql:$db' -list -force
    list both-nopin -- certutil -L -d 'sql:$db' -h all
    list both-sign -- certutil -L -d 'sql:$db' -h all -f '$work/pin-sign'
    list auth-cert -- certutil -L -d 'sql:$db' -n '$AUTH_NICK' -a
    list sign-cert -- certutil -L -d 'sql:$db' -h '$SIGN_TOKEN' -n '$SIGN_NICK' -a -f '$work/pin-sign'
    list env-auth JPKI_PKCS11_SLOTS=auth -- certutil -L -d 'sql:$db' -h all
    list env-sign JPKI_PKCS11_SLOTS=sign -- certutil -L -d 'sql:$db' -h all -f '$work/pin-sign'
    list firefox -- '$work/bin/firefox' -L -d 'sql:$db' -h all
    list soffice -- '$work/bin/soffice.bin' -L -d 'sql:$db' -h all -f '$work/pin-sign'
    list firefox-both JPKI_PKCS11_SLOTS=both -- '$work/bin/firefox' -L -d 'sql:$db' -h all
    list tty-all -- python3 '$tty_ctrl_d' certutil -L -d 'sql:$db' -h all
    list tty-auth -- python3 '$tty_ctrl_d' certutil -L -d 'sql:$db' -h '$AUTH_TOKEN'
" || fail "with-vcard failed"

for f in "$work"/*.out; do echo "==== $(basename "$f" .out) (rc $(cat "${f%.out}.rc"))"; cat "$f"; done

# has NAME TEXT / hasnt NAME TEXT: in that listing's output or not. cert/nocert NAME NICK: a
# certificate line with exactly that nickname (followed by its trust flags).
has() { grep -qF -- "$2" "$work/$1.out" || fail "$1: '$2' not listed"; }
hasnt() { ! grep -qF -- "$2" "$work/$1.out" || fail "$1: '$2' listed"; }
nick_re() { printf '%s' "$1" | sed 's/[][().*^$]/\\&/g'; }
cert() { grep -qE "^$(nick_re "$2") +[a-zA-Z]*,[a-zA-Z]*," "$work/$1.out" || fail "$1: certificate '$2' not listed"; }
nocert() { ! grep -qE "^$(nick_re "$2") +[a-zA-Z]*,[a-zA-Z]*," "$work/$1.out" || fail "$1: certificate '$2' listed"; }
ok() { [ "$(cat "$work/$1.rc")" = 0 ] || { cat "$work/$1.err" >&2; fail "$1: certutil failed"; }; }

# modutil: both tokens of the card, with OpenSC-compatible labels and one serial.
has modutil 'library name: '"$module"
has modutil "token: $AUTH_TOKEN"
has modutil "token: $SIGN_TOKEN"
has modutil 'manufacturer=J-LIS'

# "both" (NSS tools), no password: auth certificate (a user certificate: NSS found its key
# without login), the two CA certificates; the signing certificate needs the password.
ok both-nopin
grep -qE "^$(nick_re "$AUTH_NICK") +u,u,u" "$work/both-nopin.out" ||
    fail "both-nopin: auth certificate not listed as a user certificate"
cert both-nopin "$AUTH_TOKEN:User Authentication Certificate CA"
cert both-nopin "$SIGN_TOKEN:Digital Signature Certificate CA"
nocert both-nopin "$SIGN_NICK"
# With the sign password in a pin file: the signing certificate too.
ok both-sign
cert both-sign "$SIGN_NICK"
cert both-sign "$AUTH_NICK"

# At a terminal, `-h all` asks for the signature password (Ctrl-D skips it, the rest is listed);
# `-h "JPKI (User Authentication PIN)"` asks for nothing and lists the authentication certificates.
ok tty-all
has tty-all 'Enter Password or Pin for "JPKI (Digital Signature PIN)"'
has tty-all "$AUTH_NICK"
has tty-all "$SIGN_TOKEN:Digital Signature Certificate CA"
ok tty-auth
hasnt tty-auth 'Enter Password or Pin'
has tty-auth "$AUTH_NICK"
has tty-auth "$AUTH_TOKEN:User Authentication Certificate CA"
hasnt tty-auth "$SIGN_TOKEN"

# The certificates NSS reads through the module are the card's, byte for byte.
for role in auth sign; do
    ok "$role-cert"
    openssl x509 -in "$work/$role-cert.out" -outform DER -out "$work/$role.der" || fail "$role-cert: not a PEM certificate"
    cmp -s "$work/$role.der" "$pki/$role-cert.der" || fail "$role certificate read through NSS differs from the card's"
done
openssl x509 -in "$work/auth-cert.out" -noout -subject | grep -qF "$auth_cn" || fail "auth certificate subject"
openssl x509 -in "$work/sign-cert.out" -noout -subject | grep -qF "$sign_cn" || fail "sign certificate subject"

# Slot profiles: the other token is not there at all.
for name in env-auth firefox; do
    ok "$name"
    cert "$name" "$AUTH_NICK"
    hasnt "$name" "$SIGN_TOKEN"
done
for name in env-sign soffice; do
    ok "$name"
    cert "$name" "$SIGN_NICK"
    hasnt "$name" "$AUTH_TOKEN"
done
# JPKI_PKCS11_SLOTS beats the process name.
cert firefox-both "$SIGN_TOKEN:Digital Signature Certificate CA"

# Not one PIN was sent for any listing but the sign password, and that only to EF 001B.
pin_verifies >"$work/verifies"
cat "$work/verifies"
if grep -v '^001B 06 9000$' "$work/verifies"; then fail "a PIN went somewhere it should not"; fi
[ -s "$work/verifies" ] || fail "the sign password was never verified"
# The browser-profile listings never even selected the sign token's PIN file, and
# LibreOffice's never the auth token's.
segment() {  # the trace lines of one listing: after the previous marker, up to "== NAME"
    awk -v name="== $1" '$0 == name {exit} /^== / {lines = ""; next} {lines = lines $0 "\n"}
                         END {printf "%s", lines}' "$work/trace"
}
for name in env-auth firefox; do
    # SELECT EF 000A, or READ BINARY by its short EF identifier 0A (issue 11).
    segment "$name" | grep -qE '^(00A4020C02000A|00B08A)' || fail "$name: the auth certificate was not read from the card"
    ! segment "$name" | grep -q '^00A4020C02001B' || fail "$name: the sign token's PIN file was selected"
done
for name in env-sign soffice; do
    segment "$name" | grep -q '^00A4020C02001B' || fail "$name: no sign password verified"
    ! segment "$name" | grep -q '^00A4020C020018' || fail "$name: the auth token's PIN file was selected"
done
# No token advertises CKF_RNG (issue 11), so NSS pulls no random bytes from the card.
! grep -q '^0084' "$work/trace" || fail "NSS sent GET CHALLENGE: a token still advertises CKF_RNG"
echo PASS
