#include "crypto/digest.hpp"

#include "crypto/error.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>

namespace jpki::crypto {
namespace {

constexpr std::array<DigestAlgorithm, 5> all_algorithms{
    DigestAlgorithm::Sha1, DigestAlgorithm::Sha224, DigestAlgorithm::Sha256,
    DigestAlgorithm::Sha384, DigestAlgorithm::Sha512};

// RFC 8017 §9.2 note 1: DER of the DigestInfo up to (and including) the OCTET STRING header.
constexpr std::array<std::uint8_t, 15> sha1_prefix{0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e,
                                                   0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14};
// The SHA-2 prefixes share everything but the lengths and the OID's last arc.
constexpr std::array<std::uint8_t, 19> sha2_prefix(std::uint8_t outer_len, std::uint8_t oid_last,
                                                   std::uint8_t hash_len) {
    return {0x30, outer_len, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
            0x65, 0x03, 0x04, 0x02, oid_last, 0x05, 0x00, 0x04, hash_len};
}
constexpr auto sha224_prefix = sha2_prefix(0x2d, 0x04, 0x1c);
constexpr auto sha256_prefix = sha2_prefix(0x31, 0x01, 0x20);
constexpr auto sha384_prefix = sha2_prefix(0x41, 0x02, 0x30);
constexpr auto sha512_prefix = sha2_prefix(0x51, 0x03, 0x40);

ByteView prefix_of(DigestAlgorithm algorithm) noexcept {
    switch (algorithm) {
        case DigestAlgorithm::Sha1: return sha1_prefix;
        case DigestAlgorithm::Sha224: return sha224_prefix;
        case DigestAlgorithm::Sha256: return sha256_prefix;
        case DigestAlgorithm::Sha384: return sha384_prefix;
        case DigestAlgorithm::Sha512: return sha512_prefix;
    }
    return {};
}

}  // namespace

std::size_t digest_size(DigestAlgorithm algorithm) noexcept {
    switch (algorithm) {
        case DigestAlgorithm::Sha1: return 20;
        case DigestAlgorithm::Sha224: return 28;
        case DigestAlgorithm::Sha256: return 32;
        case DigestAlgorithm::Sha384: return 48;
        case DigestAlgorithm::Sha512: return 64;
    }
    return 0;
}

std::string_view digest_name(DigestAlgorithm algorithm) noexcept {
    switch (algorithm) {
        case DigestAlgorithm::Sha1: return "SHA1";
        case DigestAlgorithm::Sha224: return "SHA2-224";
        case DigestAlgorithm::Sha256: return "SHA2-256";
        case DigestAlgorithm::Sha384: return "SHA2-384";
        case DigestAlgorithm::Sha512: return "SHA2-512";
    }
    return {};
}

Bytes digest(Context& context, DigestAlgorithm algorithm, ByteView data) {
    Digest d(context, algorithm);
    d.update(data);
    return d.final();
}

Digest::Digest(Context& context, DigestAlgorithm algorithm)
    : algorithm_(algorithm),
      md_(EVP_MD_fetch(context.libctx(), std::string(digest_name(algorithm)).c_str(), nullptr)),
      ctx_(EVP_MD_CTX_new()) {
    if (!md_) throw Error("fetching digest " + std::string(digest_name(algorithm)));
    if (!ctx_) throw Error("EVP_MD_CTX_new");
    if (EVP_DigestInit_ex2(ctx_.get(), md_.get(), nullptr) != 1) throw Error("EVP_DigestInit_ex2");
}

void Digest::update(ByteView data) {
    if (finished_) throw std::logic_error("Digest::update after final");
    if (data.empty()) return;
    if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) throw Error("EVP_DigestUpdate");
}

Bytes Digest::final() {
    if (finished_) throw std::logic_error("Digest::final called twice");
    finished_ = true;
    Bytes out(static_cast<std::size_t>(EVP_MD_get_size(md_.get())));
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), out.data(), &length) != 1) throw Error("EVP_DigestFinal_ex");
    out.resize(length);
    return out;
}

Bytes digest_info(DigestAlgorithm algorithm, ByteView hash) {
    if (hash.size() != digest_size(algorithm))
        throw std::invalid_argument("digest_info: hash length " + std::to_string(hash.size()) +
                                    " does not match " + std::string(digest_name(algorithm)));
    const ByteView prefix = prefix_of(algorithm);
    Bytes out(prefix.begin(), prefix.end());
    out.insert(out.end(), hash.begin(), hash.end());
    return out;
}

std::optional<DigestAlgorithm> parse_digest_info(ByteView data) noexcept {
    for (const DigestAlgorithm algorithm : all_algorithms) {
        const ByteView prefix = prefix_of(algorithm);
        if (data.size() == prefix.size() + digest_size(algorithm) &&
            std::equal(prefix.begin(), prefix.end(), data.begin()))
            return algorithm;
    }
    return std::nullopt;
}

}  // namespace jpki::crypto
