// Hashing on the host for CKM_SHAx_RSA_PKCS (docs/design.md §3: the card signs what it is given;
// the module hashes and wraps the hash in a DigestInfo), and the DigestInfo encoding itself.
#pragma once

#include "crypto/bytes.hpp"
#include "crypto/context.hpp"
#include "crypto/ossl.hpp"

#include <cstddef>
#include <optional>
#include <string_view>

namespace jpki::crypto {

enum class DigestAlgorithm { Sha1, Sha224, Sha256, Sha384, Sha512 };

// Output length in bytes (20, 28, 32, 48, 64).
[[nodiscard]] std::size_t digest_size(DigestAlgorithm algorithm) noexcept;
// OpenSSL's fetch name ("SHA1", "SHA2-256"...).
[[nodiscard]] std::string_view digest_name(DigestAlgorithm algorithm) noexcept;

// One-shot hash.
[[nodiscard]] Bytes digest(Context& context, DigestAlgorithm algorithm, ByteView data);

// Multi-part hash for C_SignUpdate / C_SignFinal (NSS 3.101+ signs in parts). Not thread-safe;
// the token layer keeps one per active operation. final() may be called once.
class Digest {
public:
    Digest(Context& context, DigestAlgorithm algorithm);
    void update(ByteView data);
    [[nodiscard]] Bytes final();
    [[nodiscard]] DigestAlgorithm algorithm() const noexcept { return algorithm_; }

private:
    DigestAlgorithm algorithm_;
    ossl::Md md_;
    ossl::MdCtx ctx_;
    bool finished_ = false;
};

// DER DigestInfo ::= SEQUENCE { AlgorithmIdentifier (with NULL parameters), OCTET STRING hash },
// built from the fixed prefixes of RFC 8017 §9.2 note 1. Throws std::invalid_argument when
// `hash` is not exactly digest_size(algorithm) bytes.
[[nodiscard]] Bytes digest_info(DigestAlgorithm algorithm, ByteView hash);

// The algorithm when `data` is exactly one such DigestInfo (prefix + hash of the right length),
// otherwise nothing. CKM_RSA_PKCS input is either a DigestInfo or any other short data.
[[nodiscard]] std::optional<DigestAlgorithm> parse_digest_info(ByteView data) noexcept;

}  // namespace jpki::crypto
