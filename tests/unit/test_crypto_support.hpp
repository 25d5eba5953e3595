// Helpers for the crypto tests: hex, the test PKI files, and signing with the test keys (in the
// test only; the module never holds a private key).
#pragma once

#include "crypto/bytes.hpp"

#include <string>
#include <string_view>

namespace jpki::crypto_test {

Bytes from_hex(std::string_view hex);
std::string to_hex(const Bytes& bytes);
Bytes bytes_of(std::string_view text);
// A file of tests/pki (JPKI_TEST_PKI_DIR).
Bytes read_pki_file(const std::string& name);

// What the card's COMPUTE DIGITAL SIGNATURE P1 00 does: PKCS#1 v1.5 padding over `payload`
// as given, then the private-key operation. `key_pem` names a tests/pki file.
Bytes sign_pkcs1_raw(const std::string& key_pem, const Bytes& payload);
// OpenSSL's own SHA-256 RSA signature over a message (independent of our DigestInfo code).
Bytes sign_sha256_pkcs1(const std::string& key_pem, const Bytes& message);
// RSASSA-PSS, SHA-256/MGF1-SHA-256, over a 32-byte hash.
Bytes sign_pss_sha256(const std::string& key_pem, const Bytes& hash, int salt_length);

}  // namespace jpki::crypto_test
