#!/usr/bin/env bash
# The steps demo.sh runs inside with-vcard.sh: jpki-pkcs11.so, driven by OpenSC's pkcs11-tool,
# using the virtual My Number Card through pcscd, each step shown with its command and result.
set -euo pipefail
module=${JPKI_BUILD_DIR:?}/jpki-pkcs11.so
auth='JPKI (User Authentication PIN)'
sign='JPKI (Digital Signature PIN)'
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Shows the command as one could type it (arguments with spaces quoted), then runs it.
step() {
    local shown=() word
    for word in "${@:2}"; do [[ $word == *[[:space:]\(\)]* ]] && word="'$word'"; shown+=("$word"); done
    printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${shown[*]}"
    "${@:2}"
}
p11() { pkcs11-tool --module "$module" "$@"; }
echo "(p11 below stands for: pkcs11-tool --module $module)"

jpki=${JPKI_BUILD_DIR:?}/bin/jpki
step "PC/SC sees the virtual card in the reader of a private pcscd" opensc-tool --list-readers
# The virtual card's certificates come from the test CA: jpki checks them against it instead of
# the J-LIS CA certificates it ships (a real card's issuer then reads "J-LIS, generation 2023").
mkdir -p "$work/ca"
cp "$(dirname "$0")/../pki/auth-ca.pem" "$work/ca/auth_ca_test.pem"
cp "$(dirname "$0")/../pki/sign-ca.pem" "$work/ca/sign_ca_test.pem"
export JPKI_CA_DIR=$work/ca
step "The card holder's view: certificates, days left, tries left (no PIN asked, no try spent)" "$jpki" status
step "jpki-pkcs11 shows the card as two tokens, each with its own PIN" p11 --list-token-slots
step "Objects on the authentication token, before any PIN" p11 --token-label "$auth" --list-objects
echo "jpki-pkcs11 demo: signed by the virtual My Number Card" >"$work/message.txt"
step "Log in with the 4-digit PIN and sign a file (SHA256-RSA-PKCS)" \
    p11 --token-label "$auth" --login --pin 1234 --sign --id 01 -m SHA256-RSA-PKCS \
    -i "$work/message.txt" -o "$work/auth.sig"
step "Read the authentication certificate from the token" \
    p11 --token-label "$auth" --read-object --type cert --id 01 -o "$work/auth.der"
openssl x509 -inform DER -in "$work/auth.der" -pubkey -noout >"$work/auth.pub"
step "openssl verifies the signature with that certificate's public key" \
    openssl dgst -sha256 -verify "$work/auth.pub" -signature "$work/auth.sig" "$work/message.txt"
step "The signature password opens the signing token: its certificate and key appear" \
    p11 --token-label "$sign" --login --pin ABC123 --list-objects
step "Sign the file with the digital-signature key" \
    p11 --token-label "$sign" --login --pin ABC123 --sign --id 02 -m SHA256-RSA-PKCS \
    -i "$work/message.txt" -o "$work/sign.sig"
p11 --token-label "$sign" --login --pin ABC123 --read-object --type cert --id 02 -o "$work/sign.der" 2>/dev/null
openssl x509 -inform DER -in "$work/sign.der" -pubkey -noout >"$work/sign.pub"
step "openssl verifies it with the signing certificate" \
    openssl dgst -sha256 -verify "$work/sign.pub" -signature "$work/sign.sig" "$work/message.txt"
step "A 5-digit PIN is refused before it reaches the card: no try is spent" \
    p11 --token-label "$auth" --login --pin 12345 --list-objects || true
step "jpki signs the file with the card (the signature password comes from standard input here; on a terminal it is asked for)" \
    bash -c "printf 'ABC123\n' | '$jpki' sign '$work/message.txt' -o '$work/message.p7s'"
step "jpki verifies the detached CMS signature (offline, against the CA certificates)" \
    "$jpki" verify "$work/message.txt" "$work/message.p7s"
