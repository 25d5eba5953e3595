#!/usr/bin/env bash
# NSS gives the one password of a `-f pinfile` (and of most application prompts) to every token
# it logs in to. No PIN of one token may ever reach the other token's PIN on the card: the two
# formats are disjoint (auth: exactly 4 digits; sign: 6-16 of 0-9 A-Z), the module refuses a PIN
# of the wrong format before any APDU, and the slot profile hides the other token altogether.
# Shown with the card's APDU trace (which EF each VERIFY went to) and its retry counters.
source "$(dirname "$0")/lib-nss.sh"
need certutil libnss3-tools
need cmsutil libnss3-tools
e2e_setup

db=$work/nssdb
nss_new_db "$db"
head -c 1000 /dev/urandom >"$work/data"
printf '%s:%s\n%s:%s\n' "$AUTH_TOKEN" "$AUTH_PIN" "$SIGN_TOKEN" "$SIGN_PIN" >"$work/pin-both"
printf 'ZZZ999\n' >"$work/pin-sign-wrong"

step() {  # step NAME [VAR=value...] -- COMMAND...: output to $work/NAME.out, marker in the trace
    local name=$1; shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    nss env ${envs[@]+"${envs[@]}"} "$@" >"$work/$name.out" 2>&1
    echo "rc=$?" >>"$work/$name.out"
    echo "== $name" >>"$work/trace"
}
export -f step nss
export work E2E_CLIENT_TIMEOUT
segment() {  # the trace lines of one step: after the previous marker, up to "== NAME"
    awk -v name="== $1" '$0 == name {exit} /^== / {lines = ""; next} {lines = lines $0 "\n"}
                         END {printf "%s", lines}' "$work/trace"
}
show() { echo "==== $1"; cat "$work/$1.out"; echo "---- its PIN VERIFYs:"; segment "$1" | pin_verifies /dev/stdin; }
# verifies_are NAME EXPECTED: the step's PIN VERIFYs, "<EF> <Lc> <SW>" lines, are exactly these.
verifies_are() {
    local got
    got=$(segment "$1" | pin_verifies /dev/stdin)
    [ "$got" = "$2" ] || fail "$1: PIN VERIFYs were [${got//$'\n'/; }], expected [${2//$'\n'/; }]"
}
out_has() { grep -qF -- "$2" "$work/$1.out" || fail "$1: no '$2' in its output"; }
out_hasnt() { ! grep -qF -- "$2" "$work/$1.out" || fail "$1: '$2' in its output"; }

# Run 1: the right PIN of one token given to every token, with each profile. Counters must end
# where they started (auth 3, sign 5).
write_card_state "$work/state" 3 5
cp "$work/state" "$work/state.before"
in_vcard --state "$work/state" -- bash -c "
    step keys-signpin -- certutil -K -d 'sql:$db' -h all -f '$work/pin-sign'
    step keys-authpin -- certutil -K -d 'sql:$db' -h all -f '$work/pin-auth'
    step cms-authpin -- cmsutil -S -N '$SIGN_NICK' -Y NONE -d 'sql:$db' -f '$work/pin-auth' -i '$work/data' -o '$work/x.p7'
    step auth-profile-signpin JPKI_PKCS11_SLOTS=auth -- certutil -K -d 'sql:$db' -h all -f '$work/pin-sign'
    step sign-profile-authpin JPKI_PKCS11_SLOTS=sign -- certutil -K -d 'sql:$db' -h all -f '$work/pin-auth'
    step keys-bothpins -- certutil -K -d 'sql:$db' -h all -f '$work/pin-both'
" || fail "with-vcard failed"
for s in keys-signpin keys-authpin cms-authpin auth-profile-signpin sign-profile-authpin keys-bothpins; do show "$s"; done

# The sign password offered to both tokens: the sign token logs in, the auth token refuses it
# (CKR_PIN_LEN_RANGE -> NSS's "invalid password") without sending it to the card.
out_has keys-signpin 'Digital Signature Key'
out_has keys-signpin "could not authenticate to token $AUTH_TOKEN"
out_hasnt keys-signpin 'User Authentication Key'
verifies_are keys-signpin '001B 06 9000'
# The 4-digit PIN offered to both: the other way round.
out_has keys-authpin 'User Authentication Key'
out_has keys-authpin "could not authenticate to token $SIGN_TOKEN"
out_hasnt keys-authpin 'Digital Signature Key'
verifies_are keys-authpin '0018 04 9000'
# cmsutil asked to sign with the 4-digit PIN in its file: no signature, and the PIN never left
# the host (the sign token is the only one cmsutil logs in to here).
out_has cms-authpin 'rc=1'
verifies_are cms-authpin ''
[ "$(segment cms-authpin | card_signatures /dev/stdin)" = 0 ] || fail "cms-authpin: the card signed"
# With a one-slot profile the other token does not exist for NSS: not even its PIN file is
# selected.
out_hasnt auth-profile-signpin "$SIGN_TOKEN"
verifies_are auth-profile-signpin ''
! segment auth-profile-signpin | grep -q '^00A4020C02001B' || fail "auth profile: EF 001B selected"
out_hasnt sign-profile-authpin "$AUTH_TOKEN"
verifies_are sign-profile-authpin ''
! segment sign-profile-authpin | grep -q '^00A4020C020018' || fail "sign profile: EF 0018 selected"
# NSS's per-token lines ("token name:password") give each token its own PIN.
out_has keys-bothpins 'User Authentication Key'
out_has keys-bothpins 'Digital Signature Key'
verifies_are keys-bothpins $'0018 04 9000\n001B 06 9000'
# Counters untouched (the card rewrites its state file only when a counter changes).
for k in auth_tries sign_tries; do
    [ "$(state_value "$work/state" $k)" = "$(state_value "$work/state.before" $k)" ] ||
        fail "$k changed: $(state_value "$work/state" $k)"
done

# Run 2: a wrong sign password of the right format costs exactly one try (NSS does not retry
# a password file), and the auth PIN counter does not move.
reset_trace
write_card_state "$work/state" 3 5
in_vcard --state "$work/state" -- bash -c "
    step wrong-signpin -- certutil -K -d 'sql:$db' -h all -f '$work/pin-sign-wrong'
" || fail "with-vcard failed"
show wrong-signpin
verifies_are wrong-signpin '001B 06 63C4'
[ "$(state_value "$work/state" sign_tries)" = 4 ] || fail "sign tries: $(state_value "$work/state" sign_tries), expected 4"
[ "$(state_value "$work/state" auth_tries)" = 3 ] || fail "auth tries: $(state_value "$work/state" auth_tries), expected 3"

# Run 3: one sign try left: even the right password is not tried (the final-try guard, seen
# from NSS as a locked token); the counter stays at 1.
reset_trace
write_card_state "$work/state" 3 1
cp "$work/state" "$work/state.before"
in_vcard --state "$work/state" -- bash -c "
    step final-try -- cmsutil -S -N '$SIGN_NICK' -Y NONE -d 'sql:$db' -f '$work/pin-sign' -i '$work/data' -o '$work/y.p7'
" || fail "with-vcard failed"
show final-try
out_has final-try 'rc=1'
verifies_are final-try ''
cmp -s "$work/state" "$work/state.before" || fail "final-try: the card state changed"
echo PASS
