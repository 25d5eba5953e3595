// The card's private keys (EF 0017, EF 001A) and the two signature forms it computes
// (docs/card.md, "Sign, P1 = 00" and P1 04).
#pragma once

#include <jpki/transport.hpp>

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace jpki::vcard {

struct EvpPkeyDeleter {
    void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

class RsaKey {
public:
    // Reads a PEM private key (PKCS#8); throws std::runtime_error when it is missing, not
    // RSA, or does not belong to the DER certificate given.
    static RsaKey load(const std::string& pem_path, std::span<const std::uint8_t> certificate);

    // PKCS#1 v1.5 type-1 padding over the bytes as given (the host sends a DigestInfo), then
    // the RSA private operation: what the card does for P1 00.
    Bytes sign_pkcs1(std::span<const std::uint8_t> data) const;
    // RSASSA-PSS over a SHA-256 hash, MGF1-SHA-256, salt 32: P1 04.
    Bytes sign_pss_sha256(std::span<const std::uint8_t> hash) const;

private:
    explicit RsaKey(EvpPkeyPtr key) : key_(std::move(key)) {}
    std::shared_ptr<EVP_PKEY> key_;  // shared: the EF table is copied around
};

}  // namespace jpki::vcard
