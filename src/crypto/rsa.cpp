#include "crypto/rsa.hpp"

#include "crypto/error.hpp"
#include "crypto/ossl.hpp"

#include <openssl/core_names.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <bit>
#include <stdexcept>

namespace jpki::crypto {
namespace {

Bytes strip_leading_zeros(Bytes value) {
    const auto first = std::find_if(value.begin(), value.end(), [](std::uint8_t b) { return b != 0; });
    value.erase(value.begin(), first);
    return value;
}

ossl::Bn to_bn(const Bytes& value) {
    ossl::Bn bn(BN_bin2bn(value.data(), static_cast<int>(value.size()), nullptr));
    if (!bn) throw Error("BN_bin2bn");
    return bn;
}

// An EVP_PKEY for `key`, living in the private library context.
ossl::Pkey make_pkey(Context& context, const RsaPublicKey& key) {
    const ossl::Bn n = to_bn(key.modulus());
    const ossl::Bn e = to_bn(key.public_exponent());
    const ossl::ParamBld builder(OSSL_PARAM_BLD_new());
    if (!builder || OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1)
        throw Error("building RSA key parameters");
    const ossl::Params params(OSSL_PARAM_BLD_to_param(builder.get()));
    if (!params) throw Error("OSSL_PARAM_BLD_to_param");

    // By its OID, not "RSA": a name OpenSSL maps to a NID makes it look for an ENGINE first, and
    // the ENGINE tables are process-wide, not per library context. Inside `openssl -engine
    // pkcs11` (libp11 set as default for all methods) "RSA" yields the engine's legacy method,
    // which cannot build a key from parameters, and every C_Sign failed with CKR_GENERAL_ERROR.
    // The OID is an alias of the default provider's RSA key manager that maps to no NID.
    const ossl::PkeyCtx ctx(
        EVP_PKEY_CTX_new_from_name(context.libctx(), "1.2.840.113549.1.1.1", nullptr));
    EVP_PKEY* raw = nullptr;
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
        throw Error("creating an RSA public key");
    return ossl::Pkey(raw);
}

ossl::PkeyCtx make_pkey_ctx(Context& context, EVP_PKEY* pkey) {
    ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(context.libctx(), pkey, nullptr));
    if (!ctx) throw Error("EVP_PKEY_CTX_new_from_pkey");
    return ctx;
}

// The bytes a PKCS#1 v1.5 signature carries, or nothing when it does not open under `key`.
std::optional<Bytes> recover_pkcs1(Context& context, const RsaPublicKey& key, ByteView signature) {
    if (signature.size() != key.size()) return std::nullopt;
    const ossl::Pkey pkey = make_pkey(context, key);
    const ossl::PkeyCtx ctx = make_pkey_ctx(context, pkey.get());
    if (EVP_PKEY_verify_recover_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1)
        throw Error("setting up PKCS#1 v1.5 verification");
    Bytes payload(key.size());
    std::size_t length = payload.size();
    if (EVP_PKEY_verify_recover(ctx.get(), payload.data(), &length, signature.data(),
                                signature.size()) != 1) {
        clear_errors();  // a bad signature is an answer, not an error
        return std::nullopt;
    }
    payload.resize(length);
    return payload;
}

}  // namespace

RsaPublicKey::RsaPublicKey(Bytes modulus, Bytes public_exponent)
    : modulus_(strip_leading_zeros(std::move(modulus))),
      public_exponent_(strip_leading_zeros(std::move(public_exponent))) {
    if (modulus_.empty() || public_exponent_.empty())
        throw std::invalid_argument("RSA public key with a zero modulus or exponent");
}

std::size_t RsaPublicKey::bits() const noexcept {
    // modulus_ has no leading zero byte, so only its first byte can have leading zero bits.
    return modulus_.size() * 8 - static_cast<std::size_t>(std::countl_zero(modulus_.front()));
}

bool verify_pkcs1(Context& context, const RsaPublicKey& key,
                  std::optional<DigestAlgorithm> digest_algorithm, ByteView data,
                  ByteView signature) {
    const std::optional<Bytes> payload = recover_pkcs1(context, key, signature);
    if (!payload) return false;
    if (!digest_algorithm) return std::ranges::equal(*payload, data);
    return *payload == digest_info(*digest_algorithm, digest(context, *digest_algorithm, data));
}

bool verify_pss_sha256(Context& context, const RsaPublicKey& key, ByteView hash,
                       ByteView signature, int salt_length) {
    if (hash.size() != 32 || signature.size() != key.size()) return false;
    const ossl::Pkey pkey = make_pkey(context, key);
    const ossl::PkeyCtx ctx = make_pkey_ctx(context, pkey.get());
    const ossl::Md sha256(EVP_MD_fetch(context.libctx(), "SHA2-256", nullptr));
    if (!sha256 || EVP_PKEY_verify_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_signature_md(ctx.get(), sha256.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), sha256.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), salt_length) != 1)
        throw Error("setting up RSA-PSS verification");
    const int result =
        EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(), hash.data(), hash.size());
    if (result != 1) clear_errors();
    return result == 1;
}

}  // namespace jpki::crypto
