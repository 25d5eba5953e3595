#include "crypto/hmac.hpp"

#include "crypto/error.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>

namespace jpki::crypto {

KeyedFingerprint::KeyedFingerprint(Context& context)
    : context_(context), key_(std::span<const std::uint8_t>(std::array<std::uint8_t, size>{})) {
    if (RAND_priv_bytes_ex(context_.libctx(), key_.mutable_view().data(), key_.size(), 0) != 1)
        throw Error("RAND_priv_bytes_ex");
}

Bytes KeyedFingerprint::of(ByteView data) const {
    Bytes out(size);
    std::size_t written = 0;
    // Through the private library context (docs/design.md §7), like every other primitive here.
    if (EVP_Q_mac(context_.libctx(), "HMAC", nullptr, "SHA2-256", nullptr, key_.view().data(), key_.size(), data.data(),
                  data.size(), out.data(), out.size(), &written) == nullptr ||
        written != size)
        throw Error("HMAC-SHA-256");
    return out;
}

bool KeyedFingerprint::same(ByteView a, ByteView b) noexcept {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace jpki::crypto
