#include "crypto/context.hpp"

#include "crypto/error.hpp"

#include <utility>

namespace jpki::crypto {

Context::Context() : libctx_(OSSL_LIB_CTX_new()) {
    if (!libctx_) throw Error("OSSL_LIB_CTX_new");
    // Loading a provider explicitly also stops OpenSSL from activating its fallback set in
    // this context; "default" is built in, so no module file or configuration is read.
    provider_.reset(OSSL_PROVIDER_load(libctx_.get(), "default"));
    if (!provider_) throw Error("loading the OpenSSL default provider");
}

Context::~Context() = default;
Context::Context(Context&&) noexcept = default;
Context& Context::operator=(Context&& other) noexcept {
    if (this != &other) {
        provider_.reset();  // before the library context it belongs to goes
        libctx_ = std::move(other.libctx_);
        provider_ = std::move(other.provider_);
    }
    return *this;
}

}  // namespace jpki::crypto
