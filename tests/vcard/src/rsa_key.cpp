#include "rsa_key.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace jpki::vcard {
namespace {

struct BioDeleter {
    void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
struct X509Deleter {
    void operator()(X509* cert) const noexcept { X509_free(cert); }
};
struct PkeyCtxDeleter {
    void operator()(EVP_PKEY_CTX* ctx) const noexcept { EVP_PKEY_CTX_free(ctx); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;

std::runtime_error openssl_error(const std::string& what) {
    const unsigned long code = ERR_get_error();
    char text[256] = "no OpenSSL error queued";
    if (code != 0) ERR_error_string_n(code, text, sizeof text);
    ERR_clear_error();
    return std::runtime_error(what + ": " + text);
}

Bytes run_sign(EVP_PKEY_CTX* ctx, std::span<const std::uint8_t> input) {
    std::size_t length = 0;
    if (EVP_PKEY_sign(ctx, nullptr, &length, input.data(), input.size()) <= 0) {
        throw openssl_error("EVP_PKEY_sign (size)");
    }
    Bytes signature(length);
    if (EVP_PKEY_sign(ctx, signature.data(), &length, input.data(), input.size()) <= 0) {
        throw openssl_error("EVP_PKEY_sign");
    }
    signature.resize(length);
    return signature;
}

}  // namespace

RsaKey RsaKey::load(const std::string& pem_path, std::span<const std::uint8_t> certificate) {
    std::unique_ptr<BIO, BioDeleter> bio(BIO_new_file(pem_path.c_str(), "r"));
    if (!bio) throw openssl_error("cannot open private key " + pem_path);
    EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key) throw openssl_error("cannot read PEM private key " + pem_path);
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
        throw std::runtime_error(pem_path + ": not an RSA key (the JPKI applet holds RSA-2048)");
    }
    const unsigned char* p = certificate.data();
    std::unique_ptr<X509, X509Deleter> cert(
        d2i_X509(nullptr, &p, static_cast<long>(certificate.size())));
    if (!cert) throw openssl_error("cannot parse the certificate for " + pem_path);
    if (EVP_PKEY_eq(X509_get0_pubkey(cert.get()), key.get()) != 1) {
        ERR_clear_error();
        throw std::runtime_error(pem_path + " does not match its certificate");
    }
    return RsaKey(std::move(key));
}

Bytes RsaKey::sign_pkcs1(std::span<const std::uint8_t> data) const {
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key_.get(), nullptr));
    // No signature md: OpenSSL pads the input as given, like the card (docs/card.md, P1 00).
    if (!ctx || EVP_PKEY_sign_init(ctx.get()) <= 0 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) <= 0) {
        throw openssl_error("PKCS#1 v1.5 sign setup");
    }
    return run_sign(ctx.get(), data);
}

Bytes RsaKey::sign_pss_sha256(std::span<const std::uint8_t> hash) const {
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key_.get(), nullptr));
    if (!ctx || EVP_PKEY_sign_init(ctx.get()) <= 0 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) <= 0 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), 32) <= 0) {
        throw openssl_error("RSASSA-PSS sign setup");
    }
    return run_sign(ctx.get(), hash);
}

}  // namespace jpki::vcard
