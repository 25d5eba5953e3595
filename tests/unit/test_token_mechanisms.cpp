// What each signing mechanism sends to the card (docs/design.md §3 "Mechanisms").
#include "crypto/digest.hpp"
#include "token/errors.hpp"
#include "token/mechanisms.hpp"

#include <catch2/catch.hpp>

#include <functional>

using jpki::Bytes;
using jpki::token::DataCollector;

namespace {
// The JPKI card's authentication key: its formats' input limits (card/profile.hpp).
const jpki::card::RoleProfile& auth_key = jpki::card::jpki_card_profile.role(jpki::card::PinRole::Auth);

CK_RV rv_of(const std::function<void()>& body) {
    try {
        body();
    } catch (const jpki::token::Error& error) {
        return error.rv();
    }
    return CKR_OK;
}
}  // namespace

TEST_CASE("mechanisms: CKM_RSA_PKCS sends the data itself, 1..245 bytes", "[token][mechanisms]") {
    jpki::crypto::Context context;
    const CK_MECHANISM rsa{CKM_RSA_PKCS, nullptr, 0};
    DataCollector one(context, rsa, auth_key);
    one.update(Bytes(245, 0xAB));
    CHECK(one.card_input() == Bytes(245, 0xAB));

    DataCollector too_long(context, rsa, auth_key);
    too_long.update(Bytes(246, 0xAB));
    CHECK(rv_of([&] { (void)too_long.card_input(); }) == CKR_DATA_LEN_RANGE);

    DataCollector empty(context, rsa, auth_key);
    CHECK(rv_of([&] { (void)empty.card_input(); }) == CKR_DATA_LEN_RANGE);
}

TEST_CASE("mechanisms: CKM_SHAx_RSA_PKCS sends the DigestInfo of the hash, single- or multi-part",
          "[token][mechanisms]") {
    jpki::crypto::Context context;
    const Bytes message = {'a', 'b', 'c', 'd', 'e', 'f'};
    const CK_MECHANISM sha256{CKM_SHA256_RSA_PKCS, nullptr, 0};
    const Bytes expected = jpki::crypto::digest_info(
        jpki::crypto::DigestAlgorithm::Sha256, jpki::crypto::digest(context, jpki::crypto::DigestAlgorithm::Sha256, message));

    DataCollector single(context, sha256, auth_key);
    single.update(message);
    CHECK(single.card_input() == expected);

    DataCollector parts(context, sha256, auth_key);
    parts.update(Bytes(message.begin(), message.begin() + 2));
    parts.update(Bytes(message.begin() + 2, message.end()));
    CHECK(parts.multi_part());
    CHECK(parts.card_input() == expected);
}

TEST_CASE("mechanisms: unknown mechanisms and parameters are refused", "[token][mechanisms]") {
    jpki::crypto::Context context;
    std::uint8_t parameter = 0;
    CHECK(rv_of([&] { DataCollector(context, CK_MECHANISM{CKM_RSA_X_509, nullptr, 0}, auth_key); }) == CKR_MECHANISM_INVALID);
    CHECK(rv_of([&] { DataCollector(context, CK_MECHANISM{CKM_SHA384_RSA_PKCS_PSS, nullptr, 0}, auth_key); }) == CKR_MECHANISM_INVALID);
    CHECK(rv_of([&] { DataCollector(context, CK_MECHANISM{CKM_SHA256_RSA_PKCS, &parameter, 1}, auth_key); }) ==
          CKR_MECHANISM_PARAM_INVALID);
    const CK_MECHANISM_INFO info = jpki::token::mechanism_info(jpki::token::sign_mechanism(CKM_SHA384_RSA_PKCS), auth_key.key);
    CHECK(info.ulMinKeySize == 2048);
    CHECK(info.ulMaxKeySize == 2048);
    CHECK(info.flags == (CKF_HW | CKF_SIGN));
    CHECK(jpki::token::sign_mechanisms().size() == 8);
}

namespace {
CK_RV pss_rv(jpki::crypto::Context& context, CK_MECHANISM_TYPE type, CK_MECHANISM_TYPE hash, CK_RSA_PKCS_MGF_TYPE mgf,
             CK_ULONG salt, CK_ULONG length = sizeof(CK_RSA_PKCS_PSS_PARAMS)) {
    CK_RSA_PKCS_PSS_PARAMS params{hash, mgf, salt};
    return rv_of([&] { DataCollector(context, CK_MECHANISM{type, &params, length}, auth_key); });
}
}  // namespace

TEST_CASE("mechanisms: RSA-PSS takes exactly SHA-256, MGF1-SHA-256 and a 32-byte salt (issue 12)",
          "[token][mechanisms][pss]") {
    jpki::crypto::Context context;
    for (const CK_MECHANISM_TYPE type : {CKM_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS}) {
        CHECK(pss_rv(context, type, CKM_SHA256, CKG_MGF1_SHA256, 32) == CKR_OK);
        CHECK(pss_rv(context, type, CKM_SHA384, CKG_MGF1_SHA256, 32) == CKR_MECHANISM_PARAM_INVALID);
        CHECK(pss_rv(context, type, CKM_SHA256, CKG_MGF1_SHA1, 32) == CKR_MECHANISM_PARAM_INVALID);
        CHECK(pss_rv(context, type, CKM_SHA256, CKG_MGF1_SHA256, 20) == CKR_MECHANISM_PARAM_INVALID);
        CHECK(pss_rv(context, type, CKM_SHA256, CKG_MGF1_SHA256, 32, 8) == CKR_MECHANISM_PARAM_INVALID);
        CHECK(rv_of([&] { DataCollector(context, CK_MECHANISM{type, nullptr, 0}, auth_key); }) == CKR_MECHANISM_PARAM_INVALID);
    }
}

TEST_CASE("mechanisms: RSA-PSS sends the card a bare 32-byte SHA-256 hash", "[token][mechanisms][pss]") {
    jpki::crypto::Context context;
    CK_RSA_PKCS_PSS_PARAMS params{CKM_SHA256, CKG_MGF1_SHA256, 32};
    const Bytes message = {'a', 'b', 'c'};
    const Bytes hash = jpki::crypto::digest(context, jpki::crypto::DigestAlgorithm::Sha256, message);

    DataCollector hashed(context, CK_MECHANISM{CKM_SHA256_RSA_PKCS_PSS, &params, sizeof params}, auth_key);
    hashed.update(message);
    CHECK(hashed.card_input() == hash);  // no DigestInfo: P1 04 takes the hash itself
    CHECK(hashed.mechanism().needs_pss());

    DataCollector raw(context, CK_MECHANISM{CKM_RSA_PKCS_PSS, &params, sizeof params}, auth_key);
    raw.update(hash);
    CHECK(raw.card_input() == hash);
    for (const std::size_t length : {std::size_t{31}, std::size_t{33}, std::size_t{0}}) {
        DataCollector wrong(context, CK_MECHANISM{CKM_RSA_PKCS_PSS, &params, sizeof params}, auth_key);
        wrong.update(Bytes(length, 0x11));
        CHECK(rv_of([&] { (void)wrong.card_input(); }) == CKR_DATA_LEN_RANGE);
    }
}

TEST_CASE("mechanisms: a key whose card profile lists no PSS format refuses the PSS mechanisms before any APDU",
          "[token][mechanisms][pss]") {
    jpki::crypto::Context context;
    // A card profile row like the JPKI one but with PKCS#1 v1.5 only (a card known not to do PSS).
    static constexpr std::array<jpki::card::SignatureFormatSpec, 1> pkcs1_only = {
        {{jpki::card::command::SignatureFormat::Pkcs1V15, 1, 245, jpki::card::FormatSupport::EveryCard}}};
    jpki::card::RoleProfile key = auth_key;
    key.signature_formats = pkcs1_only;
    CK_RSA_PKCS_PSS_PARAMS params{CKM_SHA256, CKG_MGF1_SHA256, 32};
    CHECK(rv_of([&] { DataCollector(context, CK_MECHANISM{CKM_RSA_PKCS_PSS, &params, sizeof params}, key); }) ==
          CKR_MECHANISM_INVALID);
    CHECK(rv_of([&] { DataCollector(context, CK_MECHANISM{CKM_SHA256_RSA_PKCS, nullptr, 0}, key); }) == CKR_OK);
}
