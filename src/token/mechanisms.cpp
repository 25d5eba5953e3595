#include "token/mechanisms.hpp"

#include "token/errors.hpp"

namespace jpki::token {

const std::vector<CK_MECHANISM_TYPE>& sign_mechanisms() {
    static const std::vector<CK_MECHANISM_TYPE> mechanisms = {
        CKM_RSA_PKCS, CKM_SHA1_RSA_PKCS, CKM_SHA224_RSA_PKCS, CKM_SHA256_RSA_PKCS,
        CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS};
    return mechanisms;
}

std::optional<crypto::DigestAlgorithm> digest_of(CK_MECHANISM_TYPE mechanism) {
    using crypto::DigestAlgorithm;
    switch (mechanism) {
        case CKM_RSA_PKCS: return std::nullopt;
        case CKM_SHA1_RSA_PKCS: return DigestAlgorithm::Sha1;
        case CKM_SHA224_RSA_PKCS: return DigestAlgorithm::Sha224;
        case CKM_SHA256_RSA_PKCS: return DigestAlgorithm::Sha256;
        case CKM_SHA384_RSA_PKCS: return DigestAlgorithm::Sha384;
        case CKM_SHA512_RSA_PKCS: return DigestAlgorithm::Sha512;
        default: throw Error(CKR_MECHANISM_INVALID);
    }
}

CK_MECHANISM_INFO mechanism_info(CK_MECHANISM_TYPE mechanism) {
    static_cast<void>(digest_of(mechanism));  // throws CKR_MECHANISM_INVALID for the others
    // Honest flags: the card signs (hardware), nothing else; C_Verify exists in software but
    // is not what the token offers, so CKF_VERIFY is not claimed.
    return CK_MECHANISM_INFO{kRsaBits, kRsaBits, CKF_HW | CKF_SIGN};
}

DataCollector::DataCollector(crypto::Context& context, const CK_MECHANISM& mechanism)
    : mechanism_(mechanism.mechanism), digest_(digest_of(mechanism.mechanism)) {
    // None of these mechanisms takes a parameter (PKCS#11 2.40 §2.1.6, §2.1.14).
    if (mechanism.pParameter != nullptr || mechanism.ulParameterLen != 0)
        throw Error(CKR_MECHANISM_PARAM_INVALID);
    if (digest_) running_digest_.emplace(context, *digest_);
}

void DataCollector::update(std::span<const std::uint8_t> part) {
    multi_part_ = true;
    if (running_digest_) {
        running_digest_->update(part);
        return;
    }
    if (buffered_.size() + part.size() > kMaxCardInput) {
        too_long_ = true;  // reported at the end, as C_SignFinal's CKR_DATA_LEN_RANGE
        return;
    }
    buffered_.insert(buffered_.end(), part.begin(), part.end());
}

Bytes DataCollector::card_input() {
    if (running_digest_) return crypto::digest_info(*digest_, running_digest_->final());
    if (too_long_ || buffered_.empty() || buffered_.size() > kMaxCardInput) throw Error(CKR_DATA_LEN_RANGE);
    return buffered_;
}

}  // namespace jpki::token
