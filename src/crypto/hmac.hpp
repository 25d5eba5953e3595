// Keyed fingerprints: HMAC-SHA-256 under a random key that exists only inside one object, in
// memory, and is wiped with it. The token layer uses one to recognise a PIN the card has just
// rejected without keeping the PIN (docs/design.md §3 "Login", repeated rejected PIN).
#pragma once

#include "crypto/bytes.hpp"
#include "crypto/context.hpp"

#include <jpki/secure_bytes.hpp>

#include <cstddef>

namespace jpki::crypto {

class KeyedFingerprint {
public:
    static constexpr std::size_t size = 32;  // bytes of a fingerprint (SHA-256)

    // Draws a 32-byte key from the context's DRBG. Throws crypto::Error when the DRBG fails.
    explicit KeyedFingerprint(Context& context);
    KeyedFingerprint(const KeyedFingerprint&) = delete;
    KeyedFingerprint& operator=(const KeyedFingerprint&) = delete;
    ~KeyedFingerprint() = default;  // key_ wipes itself

    // HMAC-SHA-256(key, data): `size` bytes. Throws crypto::Error when OpenSSL fails.
    [[nodiscard]] Bytes of(ByteView data) const;
    // Constant-time comparison of two fingerprints (false when the sizes differ).
    [[nodiscard]] static bool same(ByteView a, ByteView b) noexcept;

private:
    Context& context_;
    SecureBytes key_;
};

}  // namespace jpki::crypto
