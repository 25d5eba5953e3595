// The module's private OpenSSL library context (docs/design.md §7). The module is often loaded
// inside OpenSSL itself (pkcs11-provider, the libp11 engine): going through the default library
// context would read the host's openssl.cnf, which may load that provider again and recurse
// into us. So everything in src/crypto fetches from this context, which holds only the
// built-in "default" provider and never reads a configuration file.
//
// One Context is owned by the module instance and passed down. It must outlive every object
// made with it (Digest, Certificate). It is safe to use from several threads at once (OpenSSL
// library contexts are); the objects made from it are not, unless they say so.
#pragma once

#include <openssl/crypto.h>
#include <openssl/provider.h>
#include <openssl/types.h>

#include <memory>

namespace jpki::crypto {

class Context {
public:
    // Throws crypto::Error when OpenSSL cannot create the context or load the provider.
    Context();
    ~Context();
    Context(Context&&) noexcept;
    Context& operator=(Context&&) noexcept;
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    [[nodiscard]] OSSL_LIB_CTX* libctx() const noexcept { return libctx_.get(); }

private:
    struct FreeLibCtx {
        void operator()(OSSL_LIB_CTX* p) const noexcept { OSSL_LIB_CTX_free(p); }
    };
    struct UnloadProvider {
        void operator()(OSSL_PROVIDER* p) const noexcept { OSSL_PROVIDER_unload(p); }
    };
    // Declared in this order so the provider is unloaded before its library context is freed.
    std::unique_ptr<OSSL_LIB_CTX, FreeLibCtx> libctx_;
    std::unique_ptr<OSSL_PROVIDER, UnloadProvider> provider_;
};

}  // namespace jpki::crypto
