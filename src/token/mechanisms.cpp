#include "token/mechanisms.hpp"

#include "token/errors.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

namespace jpki::token {
namespace {

using crypto::DigestAlgorithm;
using Format = card::command::SignatureFormat;
using Parameter = SignMechanism::Parameter;

std::string hex(CK_ULONG value) {
    char text[24];
    std::snprintf(text, sizeof text, "0x%lX", value);
    return text;
}

constexpr std::size_t kPssHash = card::pss_hash_length;

constexpr std::array<SignMechanism, 8> kSignMechanisms = {{
    {.type = CKM_RSA_PKCS, .parameter = Parameter::None, .host_digest = std::nullopt,
     .card_format = Format::Pkcs1V15},
    {.type = CKM_SHA1_RSA_PKCS, .parameter = Parameter::None, .host_digest = DigestAlgorithm::Sha1,
     .card_format = Format::Pkcs1V15},
    {.type = CKM_SHA224_RSA_PKCS, .parameter = Parameter::None, .host_digest = DigestAlgorithm::Sha224,
     .card_format = Format::Pkcs1V15},
    {.type = CKM_SHA256_RSA_PKCS, .parameter = Parameter::None, .host_digest = DigestAlgorithm::Sha256,
     .card_format = Format::Pkcs1V15},
    {.type = CKM_SHA384_RSA_PKCS, .parameter = Parameter::None, .host_digest = DigestAlgorithm::Sha384,
     .card_format = Format::Pkcs1V15},
    {.type = CKM_SHA512_RSA_PKCS, .parameter = Parameter::None, .host_digest = DigestAlgorithm::Sha512,
     .card_format = Format::Pkcs1V15},
    // The caller hashed (NSS's TLS 1.3 CertificateVerify, libp11): exactly one SHA-256 hash.
    {.type = CKM_RSA_PKCS_PSS, .parameter = Parameter::PssSha256Salt32, .host_digest = std::nullopt,
     .card_format = Format::PssSha256},
    {.type = CKM_SHA256_RSA_PKCS_PSS, .parameter = Parameter::PssSha256Salt32,
     .host_digest = DigestAlgorithm::Sha256, .card_format = Format::PssSha256},
}};

// PKCS#11 2.40 §2.1.14: the PSS parameter names the hash (which must match the mechanism's own
// for CKM_SHA256_RSA_PKCS_PSS), the MGF and the salt length.
void check_parameter(const SignMechanism& row, const CK_MECHANISM& mechanism) {
    if (row.parameter == Parameter::None) {
        if (mechanism.pParameter != nullptr || mechanism.ulParameterLen != 0) throw Error(CKR_MECHANISM_PARAM_INVALID);
        return;
    }
    if (mechanism.pParameter == nullptr || mechanism.ulParameterLen != sizeof(CK_RSA_PKCS_PSS_PARAMS))
        throw Error(CKR_MECHANISM_PARAM_INVALID, "RSA-PSS needs a CK_RSA_PKCS_PSS_PARAMS");
    CK_RSA_PKCS_PSS_PARAMS pss{};
    std::copy_n(static_cast<const std::uint8_t*>(mechanism.pParameter), sizeof pss, reinterpret_cast<std::uint8_t*>(&pss));
    if (pss.hashAlg != CKM_SHA256 || pss.mgf != CKG_MGF1_SHA256 || pss.sLen != kPssHash)
        throw Error(CKR_MECHANISM_PARAM_INVALID,
                    "RSA-PSS asked with hash " + hex(pss.hashAlg) + ", MGF " + hex(pss.mgf) + ", salt " +
                        std::to_string(pss.sLen) + ": the card signs with SHA-256 (0x250), MGF1-SHA-256 (0x2) and salt 32 only");
}

}  // namespace

std::span<const SignMechanism> sign_mechanisms() { return kSignMechanisms; }

const SignMechanism& sign_mechanism(CK_MECHANISM_TYPE type) {
    const auto* row = std::find_if(kSignMechanisms.begin(), kSignMechanisms.end(),
                                   [&](const SignMechanism& mechanism) { return mechanism.type == type; });
    if (row == kSignMechanisms.end())
        throw Error(CKR_MECHANISM_INVALID, "mechanism " + hex(type) + " is not one the card signs with");
    return *row;
}

CK_MECHANISM_INFO mechanism_info(const SignMechanism& /*mechanism*/, const card::CardKey& key) {
    return CK_MECHANISM_INFO{key.bits, key.bits, CKF_HW | CKF_SIGN};
}

bool verifies(crypto::Context& context, const SignMechanism& mechanism, const crypto::RsaPublicKey& key,
              std::span<const std::uint8_t> card_input, std::span<const std::uint8_t> signature) {
    if (mechanism.needs_pss()) return crypto::verify_pss_sha256(context, key, card_input, signature);
    return crypto::verify_pkcs1(context, key, std::nullopt, card_input, signature);
}

DataCollector::DataCollector(crypto::Context& context, const CK_MECHANISM& mechanism, const card::RoleProfile& key)
    : mechanism_(&sign_mechanism(mechanism.mechanism)), format_(key.signature_format(mechanism_->card_format)) {
    if (format_ == nullptr) throw Error(CKR_MECHANISM_INVALID, "the card's key does not take this signature format");
    check_parameter(*mechanism_, mechanism);
    if (mechanism_->host_digest) running_digest_.emplace(context, *mechanism_->host_digest);
}

void DataCollector::update(std::span<const std::uint8_t> part) {
    multi_part_ = true;
    if (running_digest_) {
        running_digest_->update(part);
        return;
    }
    if (buffered_.size() + part.size() > format_->max_input) {
        too_long_ = true;  // reported at the end, as C_SignFinal's CKR_DATA_LEN_RANGE
        return;
    }
    buffered_.insert(buffered_.end(), part.begin(), part.end());
}

Bytes DataCollector::card_input() {
    if (running_digest_) {
        Bytes hash = running_digest_->final();
        return mechanism_->needs_pss() ? hash : crypto::digest_info(*mechanism_->host_digest, hash);
    }
    if (too_long_ || buffered_.size() < format_->min_input || buffered_.size() > format_->max_input)
        throw Error(CKR_DATA_LEN_RANGE);
    return buffered_;
}

}  // namespace jpki::token
