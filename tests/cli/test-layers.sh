#!/usr/bin/env bash
# The jpki command sits on the card, transport and crypto layers, never on PKCS#11 (issue 8,
# docs/design.md §2): the program links no p11-kit, and holds none of the token or C API layers' code.
source "$(dirname "$0")/lib.sh"
cases=(no-pkcs11)
[ "${1:-}" = --list ] && { printf '%s\n' "${cases[@]}"; exit 0; }

case ${1:?case} in
no-pkcs11)
    [ -x "$JPKI" ] || fail "$JPKI not built"
    if ldd "$JPKI" | grep -q 'libp11-kit'; then fail "jpki links p11-kit: $(ldd "$JPKI" | grep p11-kit)"; fi
    all_symbols=$(nm -C "$JPKI")
    symbols=$(grep -E ' T (C_[A-Z][A-Za-z]+$|jpki::token::|jpki::api::)' <<<"$all_symbols" | head -5)
    [ -z "$symbols" ] || fail "jpki holds PKCS#11/token code: $symbols"
    grep -q 'jpki::card::JpkiApplet::reset_card' <<<"$all_symbols" || fail "jpki does not hold the card layer (test is blind)"
    echo "PASS: jpki links card, transport, crypto; no p11-kit, token or C API" ;;
*) fail "unknown case $1" ;;
esac
