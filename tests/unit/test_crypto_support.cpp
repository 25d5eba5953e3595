#include "test_crypto_support.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>

#ifndef JPKI_TEST_PKI_DIR
#error "JPKI_TEST_PKI_DIR must name tests/pki"
#endif

namespace jpki::crypto_test {
namespace {

struct PkeyFree {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
    void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

Pkey load_key(const std::string& name) {
    const Bytes pem = read_pki_file(name);
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    Pkey key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    if (!key) throw std::runtime_error("cannot read " + name);
    return key;
}

void require(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(what);
}

Bytes sign_with(EVP_PKEY_CTX* ctx, const Bytes& input) {
    std::size_t length = 0;
    require(EVP_PKEY_sign(ctx, nullptr, &length, input.data(), input.size()) == 1, "sign size");
    Bytes signature(length);
    require(EVP_PKEY_sign(ctx, signature.data(), &length, input.data(), input.size()) == 1, "sign");
    signature.resize(length);
    return signature;
}

}  // namespace

Bytes from_hex(std::string_view hex) {
    auto nibble = [](char c) -> std::uint8_t {
        if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
        if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
        if (c >= 'A' && c <= 'F') return static_cast<std::uint8_t>(c - 'A' + 10);
        throw std::invalid_argument("bad hex digit");
    };
    Bytes out;
    std::uint8_t high = 0;
    bool have_high = false;
    for (const char c : hex) {
        if (c == ' ' || c == ':') continue;
        if (have_high) {
            out.push_back(static_cast<std::uint8_t>(high << 4 | nibble(c)));
        } else {
            high = nibble(c);
        }
        have_high = !have_high;
    }
    if (have_high) throw std::invalid_argument("odd hex length");
    return out;
}

std::string to_hex(const Bytes& bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const std::uint8_t b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 0x0f];
    }
    return out;
}

Bytes bytes_of(std::string_view text) { return Bytes(text.begin(), text.end()); }

Bytes read_pki_file(const std::string& name) {
    std::ifstream in(std::string(JPKI_TEST_PKI_DIR) + "/" + name, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open tests/pki/" + name);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Bytes sign_pkcs1_raw(const std::string& key_pem, const Bytes& payload) {
    const Pkey key = load_key(key_pem);
    const PkeyCtx ctx(EVP_PKEY_CTX_new(key.get(), nullptr));
    require(ctx && EVP_PKEY_sign_init(ctx.get()) == 1 &&
                EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) == 1,
            "raw PKCS#1 setup");
    return sign_with(ctx.get(), payload);
}

Bytes sign_sha256_pkcs1(const std::string& key_pem, const Bytes& message) {
    const Pkey key = load_key(key_pem);
    const std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
    require(md && EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1,
            "digest sign setup");
    std::size_t length = 0;
    require(EVP_DigestSign(md.get(), nullptr, &length, message.data(), message.size()) == 1, "size");
    Bytes signature(length);
    require(EVP_DigestSign(md.get(), signature.data(), &length, message.data(), message.size()) == 1,
            "digest sign");
    signature.resize(length);
    return signature;
}

Bytes sign_pss_sha256(const std::string& key_pem, const Bytes& hash, int salt_length) {
    const Pkey key = load_key(key_pem);
    const PkeyCtx ctx(EVP_PKEY_CTX_new(key.get(), nullptr));
    require(ctx && EVP_PKEY_sign_init(ctx.get()) == 1 &&
                EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) == 1 &&
                EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) == 1 &&
                EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) == 1 &&
                EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), salt_length) == 1,
            "PSS setup");
    return sign_with(ctx.get(), hash);
}

}  // namespace jpki::crypto_test
