// RSA public keys and signature checks in software (C_Verify, the PSS probe of docs/design.md §6,
// and tests that check what the card produced).
#pragma once

#include "crypto/bytes.hpp"
#include "crypto/context.hpp"
#include "crypto/digest.hpp"

#include <cstddef>
#include <optional>

namespace jpki::crypto {

// Plain values, as PKCS#11 wants them (CKA_MODULUS, CKA_PUBLIC_EXPONENT: big-endian unsigned,
// no leading zero bytes). Not tied to any Context.
class RsaPublicKey {
public:
    // Leading zero bytes are dropped. Throws std::invalid_argument when either is zero/empty.
    RsaPublicKey(Bytes modulus, Bytes public_exponent);

    [[nodiscard]] const Bytes& modulus() const noexcept { return modulus_; }
    [[nodiscard]] const Bytes& public_exponent() const noexcept { return public_exponent_; }
    // Bit length of the modulus (CKA_MODULUS_BITS): 2048 for JPKI keys.
    [[nodiscard]] std::size_t bits() const noexcept;
    // Modulus length in bytes: the length of every signature under this key.
    [[nodiscard]] std::size_t size() const noexcept { return modulus_.size(); }

    friend bool operator==(const RsaPublicKey&, const RsaPublicKey&) = default;

private:
    Bytes modulus_;
    Bytes public_exponent_;
};

// PKCS#1 v1.5 (RSASSA-PKCS1-v1_5 / CKM_RSA_PKCS) check.
// - Without a digest: `data` is exactly what was padded and signed (a DigestInfo or any other
//   1..k-11 bytes, as CKM_RSA_PKCS and the card's COMPUTE DIGITAL SIGNATURE take it); the
//   signature is opened with the public key and its payload compared with `data`.
// - With a digest (CKM_SHAx_RSA_PKCS): `data` is the message; it is hashed and the payload must
//   be exactly the DER DigestInfo of that hash.
// False for any signature that does not verify (wrong length included); throws crypto::Error
// only when OpenSSL cannot do the work at all.
[[nodiscard]] bool verify_pkcs1(Context& context, const RsaPublicKey& key,
                                std::optional<DigestAlgorithm> digest_algorithm, ByteView data,
                                ByteView signature);

// RSASSA-PSS with SHA-256 and MGF1-SHA-256 over a 32-byte hash (the card's COMPUTE DIGITAL
// SIGNATURE P1 04, docs/design.md §6; salt 32 presumed). False when `hash` is not 32 bytes or the
// signature does not verify.
[[nodiscard]] bool verify_pss_sha256(Context& context, const RsaPublicKey& key, ByteView hash,
                                     ByteView signature, int salt_length = 32);

}  // namespace jpki::crypto
