#!/usr/bin/env bash
# `jpki pss probe` and the RSA-PSS lines of `jpki status` (issue 12) against the virtual card
# behind a private pcscd (with-vcard.sh): a card that signs RSA-PSS (`jpki-vcard --pss`) is
# proven and recorded, one that does not is recorded as refused after a single try; a malformed
# PIN sends nothing, a wrong one spends one try and records nothing; --sign proves the signing
# key; an unwritable cache still shows the answer, with a warning and exit code 6; the module
# (pss = auto) reads what jpki recorded (the same token serial names the card). The card's trace
# shows one PIN, one P1 04 signature, then the reset that ends the login.
#
# Each case runs its body inside with-vcard.sh (this script again, "@CASE"), then checks the
# trace outside. Each case has its own XDG_CACHE_HOME, so no case sees another's facts or the
# user's.
source "$(dirname "$0")/lib.sh"
cases=(help-en help-ja proven-en proven-ja refused-en malformed wrong-pin sign-en unwritable-cache
       damaged-record one-try no-sign-cert module-reads-it)
[ "${1:-}" = --list ] && { printf '%s\n' "${cases[@]}"; exit 0; }

# One scratch folder for the outer run and the case it runs inside with-vcard.sh.
if [ -z "${JPKI_TEST_SCRATCH:-}" ]; then
    JPKI_TEST_SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/jpki-test-pss.XXXXXX")
    trap 'rm -rf "$JPKI_TEST_SCRATCH"' EXIT
    export JPKI_TEST_SCRATCH
    mkdir -p "$JPKI_TEST_SCRATCH/ca" "$JPKI_TEST_SCRATCH/cache"
    cp "$repo/tests/pki/auth-ca.pem" "$JPKI_TEST_SCRATCH/ca/auth_ca_test.pem"
    cp "$repo/tests/pki/sign-ca.pem" "$JPKI_TEST_SCRATCH/ca/sign_ca_test.pem"
fi
scratch=$JPKI_TEST_SCRATCH
trace=$scratch/trace
export JPKI_CA_DIR=$scratch/ca
export XDG_CACHE_HOME=$scratch/cache

# A status row, as tests/cli/test-status.sh writes them: English labels padded to 18 columns;
# Japanese labels to 22 columns, counting the full-width characters of "RSA-PSS（TLS 1.3）" twice.
row() { printf '    %-18s  %s' "$1" "$2"; }
pss_row_ja() { printf '    %s%*s  %s' 'RSA-PSS（TLS 1.3）' 4 '' "$1"; }

# The cache's files and their content: what a failed probe must leave as it was (jpki also records
# the card's READ BINARY forms there, so the folder itself exists after any run).
cache_snapshot() { (cd "$XDG_CACHE_HOME" && find . -type f -exec sha256sum {} + | sort); }

pin_apdu_re='^(002000[0-9A-F]{2}[0-9A-F]{2}\*|0024)'
count() { grep -cE "$1" "$trace"; }  # lines of the trace matching an ERE

# Runs this script's case "@NAME" inside with-vcard.sh with the given jpki-vcard options, with
# the card's trace in $trace.
in_vcard() {
    local name=$1; shift
    bash "$WITH_VCARD" "$@" --trace "$trace" -- bash "$0" "@$name"
}

# The last VERIFY carrying a PIN is followed by the reset that ends the login.
expect_reset_after_pin() {
    local last_pin
    last_pin=$(grep -nE "$pin_apdu_re" "$trace" | tail -1 | cut -d: -f1)
    [ -n "$last_pin" ] || fail "no PIN in the trace"
    tail -n +"$last_pin" "$trace" | grep -qx '# reset' || fail "no reset after the PIN:
$(cat "$trace")"
}

# Exactly one PIN and one COMPUTE DIGITAL SIGNATURE, which is P1 04 (PSS), then the reset.
expect_one_pin_one_pss() {
    [ "$(count "$pin_apdu_re")" = 1 ] || fail "expected one PIN APDU:
$(cat "$trace")"
    [ "$(count '^802A')" = 1 ] || fail "expected one COMPUTE DIGITAL SIGNATURE:
$(cat "$trace")"
    [ "$(count '^802A0480')" = 1 ] || fail "the signature is not P1 04:
$(cat "$trace")"
    expect_reset_after_pin
}

case ${1:?case} in
# ---- outside the card ----
help-en)
    run_jpki en pss probe --help; expect_rc 0
    expect_line out "Usage: jpki pss probe [--sign] [--reader NAME]"
    expect_line out "binding key is made only when you ask for one, and --sign is you asking."
    expect_line out "Exit codes: 0 RSA-PSS proven; 8 the card does not sign RSA-PSS; 6 proven, but the"
    run_jpki en pss; expect_rc 2
    run_jpki en pss frobnicate; expect_rc 2
    expect_line err "jpki pss: unknown action 'frobnicate' (probe)"
    run_jpki en --help; expect_rc 0
    expect_line out "  pss      Test whether the card signs RSA-PSS (TLS 1.3 logins) and remember the answer"
    expect_line out "     RSA-PSS by the card (pss probe)" ;;
help-ja)
    run_jpki ja pss probe --help; expect_rc 0
    expect_line out "使い方: jpki pss probe [--sign] [--reader 名前]"
    expect_line out "行うためです。--sign の指定が、ご本人が求めたことになります。"
    run_jpki ja status --help; expect_rc 0
    expect_line out "RSA-PSS（TLS 1.3）は、鍵ごとに、カードが RSA-PSS で署名できることを確認済みかどうかを" ;;
proven-en|proven-ja|sign-en|unwritable-cache|damaged-record|module-reads-it) in_vcard "$1" --pss ;;
refused-en|malformed|wrong-pin) in_vcard "$1" ;;
one-try) in_vcard "$1" --pss --auth-tries 1 ;;
no-sign-cert) in_vcard "$1" --pss --no-sign-cert ;;

# ---- inside with-vcard.sh ----
@proven-en)
    [ -z "$(ls -A "$XDG_CACHE_HOME")" ] || fail "the cache is not empty before the probe"
    run_jpki en status; expect_rc 0
    expect_line out "$(row 'RSA-PSS (TLS 1.3)' "not tested yet (run 'jpki pss probe')")"
    expect_line out "$(row 'RSA-PSS (TLS 1.3)' "not tested yet (run 'jpki pss probe --sign')")"
    run_jpki en pss probe --reader "No Such Reader" <<<'1234'; expect_rc 3
    expect_line err "No reader named 'No Such Reader'. Readers:"
    run_jpki en pss probe --reader "$JPKI_VCARD_READER" <<<'1234'; expect_rc 0
    expect_line out "RSA-PSS: proven for this card's authentication key; TLS 1.3 logins will work after restarting Firefox (and any other program that has the card open)."
    [ -z "$err" ] || fail "stderr: $err"
    # Recorded: every later status shows it (no PIN asked, none given on stdin).
    for _ in 1 2; do
        run_jpki en status </dev/null; expect_rc 0
        expect_line out "$(row 'RSA-PSS (TLS 1.3)' proven)"
        expect_line out "$(row 'RSA-PSS (TLS 1.3)' "not tested yet (run 'jpki pss probe --sign')")"
    done
    run_jpki en status --json; expect_rc 0
    /usr/bin/python3 -c '
import json, sys
c = json.load(sys.stdin)["readers"][0]["card"]
assert c["pss"] == {"auth": "proven", "sign": "untested"}, c' <<<"$out" || fail "json: $out" ;;
@proven-ja)
    run_jpki ja pss probe <<<'1234'; expect_rc 0
    expect_line out "RSA-PSS: このカードの利用者証明用の鍵で確認できました。Firefox（とカードを使っている他のプログラム）を再起動すると、TLS 1.3 でログインできます。"
    run_jpki ja status; expect_rc 0
    expect_line out "$(pss_row_ja 確認済み)"
    expect_line out "$(pss_row_ja "未確認（'jpki pss probe --sign' で確認できます）")" ;;
@refused-en)
    run_jpki en pss probe <<<'1234'; expect_rc 8
    expect_line out "This card does not sign RSA-PSS (the card refused): TLS 1.3 client login is not possible; TLS 1.2 works."
    run_jpki en status; expect_rc 0
    expect_line out "$(row 'RSA-PSS (TLS 1.3)' 'refused by this card')"
    run_jpki en status --json; expect_rc 0
    /usr/bin/python3 -c '
import json, sys
c = json.load(sys.stdin)["readers"][0]["card"]
assert c["pss"] == {"auth": "refused", "sign": "untested"}, c' <<<"$out" || fail "json: $out" ;;
@malformed)
    run_jpki en status; expect_rc 0
    before=$(cache_snapshot)
    for pin in 12 12345 '１２３４'; do
        run_jpki en pss probe <<<"$pin"; expect_rc 2
        expect_line err "The authentication PIN is exactly 4 digits. Nothing was sent to the card."
    done
    [ "$(cache_snapshot)" = "$before" ] || fail "something was recorded"
    run_jpki en status; expect_rc 0
    expect_line out "$(row 'RSA-PSS (TLS 1.3)' "not tested yet (run 'jpki pss probe')")" ;;
@wrong-pin)
    run_jpki en status; expect_rc 0
    before=$(cache_snapshot)
    run_jpki en pss probe <<<'9999'; expect_rc 4
    expect_line err "Wrong authentication PIN. 2 tries left before it locks."
    [ -z "$out" ] || fail "stdout: $out"
    run_jpki en status; expect_rc 0
    expect_line out "$(row 'Authentication PIN' '2 tries left (of 3)')"
    expect_line out "$(row 'RSA-PSS (TLS 1.3)' "not tested yet (run 'jpki pss probe')")"
    [ "$(cache_snapshot)" = "$before" ] || fail "something was recorded" ;;
@sign-en)
    run_jpki en pss probe --sign <<<'ABC123'; expect_rc 0
    expect_line out "RSA-PSS: proven for this card's signing key; programs that use the module offer it after they restart."
    run_jpki en status; expect_rc 0
    expect_line out "$(row 'RSA-PSS (TLS 1.3)' proven)"
    expect_line out "$(row 'RSA-PSS (TLS 1.3)' "not tested yet (run 'jpki pss probe')")"
    # The signing key's line is in the signing certificate's section.
    sed -n '/^  Signing certificate$/,/^  PINs/p' <<<"$out" | grep -qxF "$(row 'RSA-PSS (TLS 1.3)' proven)" ||
        fail "not in the signing certificate's section: $out" ;;
@unwritable-cache)
    # A file where the cache folder's parent should be: no folder can be made there, even by root.
    blocker=$scratch/not-a-folder
    : >"$blocker"
    XDG_CACHE_HOME=$blocker run_jpki en pss probe <<<'1234'; expect_rc 6
    # Not "TLS 1.3 logins will work": nothing will offer it until the answer is recorded.
    expect_line out "RSA-PSS: proven for this card, but the answer could not be recorded, so programs will not offer it yet (see the warning below)."
    expect_text err "Warning: the answer was not recorded: "
    expect_text err "make that folder writable by you, then run this command again."
    XDG_CACHE_HOME=$blocker run_jpki en status; expect_rc 0
    expect_line out "$(row 'RSA-PSS (TLS 1.3)' "not tested yet (run 'jpki pss probe')")"
    # Neither HOME nor XDG_CACHE_HOME: no cache at all, said so.
    env -u HOME -u XDG_CACHE_HOME "$JPKI" pss probe <<<'1234' >"$scratch/out" 2>"$scratch/err"; rc=$?
    out=$(cat "$scratch/out") err=$(cat "$scratch/err"); expect_rc 6
    expect_line err "Warning: the answer was not recorded: no cache folder (neither XDG_CACHE_HOME nor HOME is set). The module reads it from the card cache (\$XDG_CACHE_HOME/jpki-pkcs11, else ~/.cache/jpki-pkcs11); make that folder writable by you, then run this command again." ;;
@damaged-record)
    # The card's record exists but is garbage: the probe replaces it, and the answer is kept.
    serial=$(openssl x509 -in "$repo/tests/pki/auth-cert.pem" -noout -serial | sed 's/^serial=//')
    serial=${serial: -16}
    record=$(printf 'jpki-pkcs11 card\0%s' "$serial" | sha256sum | cut -c1-64)
    mkdir -p "$XDG_CACHE_HOME/jpki-pkcs11"
    printf 'not a record\n' >"$XDG_CACHE_HOME/jpki-pkcs11/$record"
    run_jpki en pss probe <<<'1234'; expect_rc 0
    expect_line out "RSA-PSS: proven for this card's authentication key; TLS 1.3 logins will work after restarting Firefox (and any other program that has the card open)."
    head -1 "$XDG_CACHE_HOME/jpki-pkcs11/$record" | grep -qx 'jpki-pkcs11 card cache 1' || fail "the record was not rewritten"
    run_jpki en status; expect_rc 0
    expect_line out "$(row 'RSA-PSS (TLS 1.3)' proven)" ;;
@one-try)
    # The final-try guard, as for every command that sends a PIN on its own.
    run_jpki en pss probe <<<'1234'; expect_rc 5
    expect_line err "The authentication PIN has only 1 try left, so nothing was sent to the card: a wrong entry would lock it. If you are sure of it, use 'jpki pin verify auth'." ;;
@no-sign-cert)
    run_jpki en pss probe --sign <<<'ABC123'; expect_rc 1
    expect_line err "This card has no signing certificate (cards issued to children under 15 have none): there is no signing key to test."
    run_jpki en status; expect_rc 0
    expect_line out "$(row 'RSA-PSS (TLS 1.3)' "not tested yet (run 'jpki pss probe')")"
    expect_no_text out "pss probe --sign" ;;
@module-reads-it)
    # The module's mechanism list (pkcs11-tool, OpenSC) per slot: 0 authentication, 1 signature.
    module=$build/jpki-pkcs11.so
    [ -f "$module" ] || fail "module not built: $module"
    mechanisms() { XDG_CONFIG_HOME=$scratch/config JPKI_PKCS11_PSS=auto \
                   pkcs11-tool --module "$module" --slot-index "$1" -M 2>&1; }
    out=$(mechanisms 0); expect_line out "  RSA-PKCS, keySize={2048,2048}, hw, sign"
    expect_no_text out "PSS"
    run_jpki en pss probe <<<'1234'; expect_rc 0
    out=$(mechanisms 0)
    expect_line out "  RSA-PKCS-PSS, keySize={2048,2048}, hw, sign"
    expect_line out "  SHA256-RSA-PKCS-PSS, keySize={2048,2048}, hw, sign"
    out=$(mechanisms 1); expect_no_text out "PSS"
    run_jpki en pss probe --sign <<<'ABC123'; expect_rc 0
    out=$(mechanisms 1); expect_line out "  RSA-PKCS-PSS, keySize={2048,2048}, hw, sign" ;;
*) fail "unknown case $1" ;;
esac
status=$?
[ "$status" = 0 ] || exit "$status"

# ---- the trace, after the card is gone ----
case $1 in
proven-en|proven-ja|sign-en|damaged-record) expect_one_pin_one_pss ;;
module-reads-it)
    # The module only listed mechanisms: the two P1 04 signatures are jpki's, one per PIN.
    [ "$(count "$pin_apdu_re")" = 2 ] && [ "$(count '^802A0480')" = 2 ] && [ "$(count '^802A')" = 2 ] ||
        fail "expected two PINs and two P1 04 signatures:
$(cat "$trace")" ;;
refused-en)
    # One try with P1 04, answered 6A86: no second attempt in another form.
    expect_one_pin_one_pss
    grep -qx '802A0480.* 6A86' "$trace" || fail "the card did not refuse P1 04:
$(cat "$trace")" ;;
unwritable-cache)
    # Two probes, each one PIN and one P1 04.
    [ "$(count "$pin_apdu_re")" = 2 ] && [ "$(count '^802A0480')" = 2 ] && [ "$(count '^802A')" = 2 ] ||
        fail "expected two PINs and two P1 04 signatures:
$(cat "$trace")" ;;
malformed|one-try|no-sign-cert)
    # No PIN, no signature, and so no reset either (nothing to end).
    [ "$(count "$pin_apdu_re")" = 0 ] && [ "$(count '^802A')" = 0 ] || fail "a PIN or a signature went out:
$(cat "$trace")"
    ! grep -qx '# reset' "$trace" || fail "the card was reset:
$(cat "$trace")" ;;
wrong-pin)
    [ "$(count "$pin_apdu_re")" = 1 ] && [ "$(count '^802A')" = 0 ] || fail "expected one PIN and no signature:
$(cat "$trace")" ;;
esac
exit 0
