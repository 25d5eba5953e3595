#!/usr/bin/env bash
# The steps demo.sh runs inside with-vcard.sh. Until jpki-pkcs11.so exists, the PKCS#11 module
# shown is OpenSC's own (its JPKI driver works with real cards), talking to our virtual card.
set -euo pipefail
module=$(ls /usr/lib/*/opensc-pkcs11.so | head -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

step "PC/SC sees the virtual card in the reader of a private pcscd" opensc-tool --list-readers
step "The PKCS#11 module lists the card's two tokens" pkcs11-tool --module "$module" --list-token-slots
step "Objects on the authentication token (no PIN needed)" \
    pkcs11-tool --module "$module" --token-label "JPKI (User Authentication PIN)" --list-objects
echo "jpki-pkcs11 demo: signed by the virtual My Number Card" >"$work/message.txt"
step "Log in with the 4-digit PIN 1234 and sign a file (SHA256-RSA-PKCS)" \
    pkcs11-tool --module "$module" --token-label "JPKI (User Authentication PIN)" --login --pin 1234 \
    --sign --id 01 -m SHA256-RSA-PKCS -i "$work/message.txt" -o "$work/message.sig"
step "Read the authentication certificate from the token" \
    pkcs11-tool --module "$module" --token-label "JPKI (User Authentication PIN)" \
    --read-object --type cert --id 01 -o "$work/auth.der"
openssl x509 -inform DER -in "$work/auth.der" -pubkey -noout >"$work/auth.pub"
step "openssl verifies the signature with the certificate's public key" \
    openssl dgst -sha256 -verify "$work/auth.pub" -signature "$work/message.sig" "$work/message.txt"
step "The signature password 'ABC123' opens the signing token and its certificate" \
    pkcs11-tool --module "$module" --token-label "JPKI (Digital Signature PIN)" --login --pin ABC123 \
    --list-objects --type cert
