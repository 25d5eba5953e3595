// Signing (docs/design.md §3 "Mechanisms"): every mechanism single- and multi-part on both keys,
// each signature verified by OpenSSL against the certificate; CKM_RSA_PKCS input lengths; the
// two-call convention of C_Sign / C_SignFinal; operation state errors; C_Verify in software.
// The main login+sign test runs with the card both keeping and clearing a verified PIN on
// re-selection of the JPKI AID (docs/design.md §4 --reselect-clears).
#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace apitest;

namespace {

constexpr CK_MECHANISM_TYPE kHashMechanisms[] = {CKM_SHA1_RSA_PKCS, CKM_SHA224_RSA_PKCS, CKM_SHA256_RSA_PKCS,
                                                 CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS};

struct Token {
    CK_SLOT_ID slot;
    const char* pin;
    std::uint8_t id;
    const char* certificate;
};
constexpr Token kAuth{auth_slot, auth_pin, id_auth, "auth-cert.der"};
constexpr Token kSign{sign_slot, sign_pin, id_sign, "sign-cert.der"};

Bytes concat(const std::vector<Bytes>& parts) {
    Bytes all;
    for (const Bytes& part : parts) all.insert(all.end(), part.begin(), part.end());
    return all;
}

}  // namespace

TEST_CASE("login and sign with every mechanism, single- and multi-part, both keys, verified by OpenSSL",
          "[sign][reselect]") {
    const bool reselect_clears = GENERATE(false, true);
    INFO("reselect_clears=" << reselect_clears);
    Fixture f(one_card([&](CardConfig& c) { c.reselect_clears = reselect_clears; }));
    for (const Token& token : {kAuth, kSign}) {
        INFO("slot " << token.slot);
        const Bytes certificate = pki_file(token.certificate);
        const CK_SESSION_HANDLE s = f.open(token.slot);
        f.login(s, token.pin);
        const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, token.id);

        const Bytes digest_info = sha256_digest_info(bytes_of("TLS 1.2 handshake"));
        CHECK(openssl_verifies(certificate, CKM_RSA_PKCS, digest_info, f.sign(s, CKM_RSA_PKCS, key, digest_info)));

        const std::vector<Bytes> parts = {bytes_of("part one, "), Bytes(1000, 0x5A), bytes_of("and the end")};
        const Bytes message = concat(parts);
        for (const CK_MECHANISM_TYPE mechanism : kHashMechanisms) {
            INFO("mechanism " << mechanism);
            CHECK(openssl_verifies(certificate, mechanism, message, f.sign(s, mechanism, key, message)));
            CHECK(openssl_verifies(certificate, mechanism, message, f.sign_parts(s, mechanism, key, parts)));
        }
    }
    // One VERIFY per PIN for all of it: signatures never re-send a PIN.
    CHECK(count_verify_with_data(f.apdus()) == 2);
}

TEST_CASE("CKM_RSA_PKCS signs raw data of 1 to 245 bytes", "[sign]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    const Bytes certificate = pki_file("auth-cert.der");
    const std::size_t length = GENERATE(1, 2, 20, 35, 51, 83, 128, 244, 245);
    Bytes data(length);
    for (std::size_t i = 0; i < length; ++i) data[i] = static_cast<std::uint8_t>(i * 7 + 1);
    INFO("length " << length);
    CHECK(openssl_verifies(certificate, CKM_RSA_PKCS, data, f.sign(s, CKM_RSA_PKCS, key, data)));
}

TEST_CASE("CKM_RSA_PKCS multi-part collects the parts into one input", "[sign]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    const Bytes digest_info = sha256_digest_info(bytes_of("multi"));
    const std::vector<Bytes> parts = {Bytes(digest_info.begin(), digest_info.begin() + 10),
                                      Bytes(digest_info.begin() + 10, digest_info.end())};
    CHECK(openssl_verifies(pki_file("auth-cert.der"), CKM_RSA_PKCS, digest_info,
                           f.sign_parts(s, CKM_RSA_PKCS, key, parts)));
}

TEST_CASE("CKM_RSA_PKCS with 246 bytes or with no data answers CKR_DATA_LEN_RANGE without a signature APDU",
          "[sign][trace]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    CK_MECHANISM mechanism{CKM_RSA_PKCS, nullptr, 0};
    Bytes signature(signature_size);
    const auto signatures = [&] {
        const auto apdus = f.apdus();
        // P1 00: the application's signatures (the login's PSS proof under `pss = auto` is P1 04).
        return count_prefix(apdus, "802A00");
    };
    SECTION("single-part 246") {
        Bytes data(246, 0x11);
        REQUIRE(f.p11->C_SignInit(s, &mechanism, key) == CKR_OK);
        CK_ULONG length = signature_size;
        CHECK(f.p11->C_Sign(s, data.data(), 246, signature.data(), &length) == CKR_DATA_LEN_RANGE);
    }
    SECTION("single-part empty") {
        REQUIRE(f.p11->C_SignInit(s, &mechanism, key) == CKR_OK);
        CK_ULONG length = signature_size;
        CHECK(f.p11->C_Sign(s, signature.data(), 0, signature.data(), &length) == CKR_DATA_LEN_RANGE);
    }
    SECTION("multi-part 123 + 123") {
        Bytes half(123, 0x22);
        REQUIRE(f.p11->C_SignInit(s, &mechanism, key) == CKR_OK);
        REQUIRE(f.p11->C_SignUpdate(s, half.data(), 123) == CKR_OK);
        const CK_RV rv = f.p11->C_SignUpdate(s, half.data(), 123);
        if (rv == CKR_OK) {
            CK_ULONG length = signature_size;
            CHECK(f.p11->C_SignFinal(s, signature.data(), &length) == CKR_DATA_LEN_RANGE);
        } else {
            CHECK(rv == CKR_DATA_LEN_RANGE);
        }
    }
    CHECK(signatures() == 0);
    // The operation ended: a new one can start.
    CHECK(openssl_verifies(pki_file("auth-cert.der"), CKM_RSA_PKCS, Bytes{1, 2, 3},
                           f.sign(s, CKM_RSA_PKCS, key, Bytes{1, 2, 3})));
}

TEST_CASE("C_Sign two-call convention: NULL gives 256, too small gives CKR_BUFFER_TOO_SMALL, the operation stays",
          "[sign][two-call]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    Bytes data = bytes_of("two calls");
    REQUIRE(f.p11->C_SignInit(s, &mechanism, key) == CKR_OK);
    CK_ULONG length = 0;
    REQUIRE(f.p11->C_Sign(s, data.data(), static_cast<CK_ULONG>(data.size()), nullptr, &length) == CKR_OK);
    CHECK(length == 256);
    Bytes signature(256);
    length = 255;
    CHECK(f.p11->C_Sign(s, data.data(), static_cast<CK_ULONG>(data.size()), signature.data(), &length) ==
          CKR_BUFFER_TOO_SMALL);
    CHECK(length == 256);
    const std::size_t signatures_before = f.apdus().size();
    length = 256;
    REQUIRE(f.p11->C_Sign(s, data.data(), static_cast<CK_ULONG>(data.size()), signature.data(), &length) == CKR_OK);
    CHECK(length == 256);
    CHECK(openssl_verifies(pki_file("auth-cert.der"), CKM_SHA256_RSA_PKCS, data, signature));
    CHECK(f.apdus().size() > signatures_before);
    // And now it is over.
    CHECK(f.p11->C_Sign(s, data.data(), static_cast<CK_ULONG>(data.size()), signature.data(), &length) ==
          CKR_OPERATION_NOT_INITIALIZED);
}

TEST_CASE("C_SignFinal two-call convention: NULL gives 256, too small gives CKR_BUFFER_TOO_SMALL, the operation stays",
          "[sign][two-call]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(sign_slot);
    f.login(s, sign_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_sign);
    CK_MECHANISM mechanism{CKM_SHA512_RSA_PKCS, nullptr, 0};
    Bytes a = bytes_of("first "), b = bytes_of("second");
    REQUIRE(f.p11->C_SignInit(s, &mechanism, key) == CKR_OK);
    REQUIRE(f.p11->C_SignUpdate(s, a.data(), static_cast<CK_ULONG>(a.size())) == CKR_OK);
    REQUIRE(f.p11->C_SignUpdate(s, b.data(), static_cast<CK_ULONG>(b.size())) == CKR_OK);
    CK_ULONG length = 0;
    REQUIRE(f.p11->C_SignFinal(s, nullptr, &length) == CKR_OK);
    CHECK(length == 256);
    Bytes signature(256);
    length = 100;
    CHECK(f.p11->C_SignFinal(s, signature.data(), &length) == CKR_BUFFER_TOO_SMALL);
    CHECK(length == 256);
    REQUIRE(f.p11->C_SignFinal(s, signature.data(), &length) == CKR_OK);
    CHECK(length == 256);
    CHECK(openssl_verifies(pki_file("sign-cert.der"), CKM_SHA512_RSA_PKCS, concat({a, b}), signature));
    CHECK(f.p11->C_SignFinal(s, signature.data(), &length) == CKR_OPERATION_NOT_INITIALIZED);
}

TEST_CASE("C_SignInit with CKM_RSA_X_509 or another unknown mechanism answers CKR_MECHANISM_INVALID", "[sign]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    for (const CK_MECHANISM_TYPE type : {CKM_RSA_X_509, CKM_SHA256, CKM_RSA_PKCS_OAEP, CKM_ECDSA}) {
        CK_MECHANISM mechanism{type, nullptr, 0};
        CHECK(f.p11->C_SignInit(s, &mechanism, key) == CKR_MECHANISM_INVALID);
    }
    // Nothing is left active.
    CHECK(f.sign(s, CKM_SHA1_RSA_PKCS, key, bytes_of("ok")).size() == 256);
}

TEST_CASE("C_SignInit with a mechanism parameter answers CKR_MECHANISM_PARAM_INVALID", "[sign]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    CK_BYTE parameter[4] = {1, 2, 3, 4};
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, parameter, sizeof parameter};
    CHECK(f.p11->C_SignInit(s, &mechanism, key) == CKR_MECHANISM_PARAM_INVALID);
    CHECK(f.sign(s, CKM_SHA256_RSA_PKCS, key, bytes_of("ok")).size() == 256);
}

TEST_CASE("signing without login: a key found while logged in answers CKR_USER_NOT_LOGGED_IN, others CKR_KEY_HANDLE_INVALID",
          "[sign]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    REQUIRE(f.p11->C_Logout(s) == CKR_OK);
    CHECK_FALSE(f.find_optional(s, CKO_PRIVATE_KEY, id_auth).has_value());  // invisible again
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    // "Log in again" tells the application what to do (the login may have been ended by another
    // program's logout-reset, issue 7).
    CHECK(f.p11->C_SignInit(s, &mechanism, key) == CKR_USER_NOT_LOGGED_IN);
    CHECK(f.p11->C_SignInit(s, &mechanism, 0x7777) == CKR_KEY_HANDLE_INVALID);
}

TEST_CASE("C_SignInit with a key that cannot sign answers CKR_KEY_FUNCTION_NOT_PERMITTED", "[sign]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    const CK_RV rv = f.p11->C_SignInit(s, &mechanism, f.find_one(s, CKO_PUBLIC_KEY, id_auth));
    CHECK((rv == CKR_KEY_FUNCTION_NOT_PERMITTED || rv == CKR_KEY_TYPE_INCONSISTENT));
    CHECK(f.p11->C_SignInit(s, &mechanism, f.find_one(s, CKO_CERTIFICATE, id_auth)) == CKR_KEY_FUNCTION_NOT_PERMITTED);
}

TEST_CASE("C_SignInit while a signature is active answers CKR_OPERATION_ACTIVE", "[sign]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    REQUIRE(f.p11->C_SignInit(s, &mechanism, key) == CKR_OK);
    CHECK(f.p11->C_SignInit(s, &mechanism, key) == CKR_OPERATION_ACTIVE);
    // The first operation is intact.
    Bytes data = bytes_of("still active");
    Bytes signature(256);
    CK_ULONG length = 256;
    REQUIRE(f.p11->C_Sign(s, data.data(), static_cast<CK_ULONG>(data.size()), signature.data(), &length) == CKR_OK);
    CHECK(openssl_verifies(pki_file("auth-cert.der"), CKM_SHA256_RSA_PKCS, data, signature));
}

TEST_CASE("C_Sign, C_SignUpdate and C_SignFinal without C_SignInit answer CKR_OPERATION_NOT_INITIALIZED", "[sign]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    Bytes data = bytes_of("x");
    Bytes signature(256);
    CK_ULONG length = 256;
    CHECK(f.p11->C_Sign(s, data.data(), 1, signature.data(), &length) == CKR_OPERATION_NOT_INITIALIZED);
    CHECK(f.p11->C_Sign(s, data.data(), 1, nullptr, &length) == CKR_OPERATION_NOT_INITIALIZED);
    CHECK(f.p11->C_SignUpdate(s, data.data(), 1) == CKR_OPERATION_NOT_INITIALIZED);
    CHECK(f.p11->C_SignFinal(s, signature.data(), &length) == CKR_OPERATION_NOT_INITIALIZED);
}

TEST_CASE("C_Sign after C_SignUpdate is refused and ends the operation", "[sign]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    Bytes data = bytes_of("mixed");
    REQUIRE(f.p11->C_SignInit(s, &mechanism, key) == CKR_OK);
    REQUIRE(f.p11->C_SignUpdate(s, data.data(), 5) == CKR_OK);
    Bytes signature(256);
    CK_ULONG length = 256;
    CHECK(f.p11->C_Sign(s, data.data(), 5, signature.data(), &length) == CKR_OPERATION_ACTIVE);
    CHECK(f.sign(s, CKM_SHA256_RSA_PKCS, key, data).size() == 256);
}

TEST_CASE("a sign key that needs context login signs after C_Login(CKU_CONTEXT_SPECIFIC)", "[sign][login]") {
    Setup setup;
    setup.env = {{"JPKI_PKCS11_ALWAYS_AUTH", "1"}};
    Fixture f(setup);
    const CK_SESSION_HANDLE s = f.open(sign_slot);
    f.login(s, sign_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_sign);
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    Bytes data = bytes_of("always authenticate");
    Bytes signature(256);
    CK_ULONG length = 256;
    SECTION("without the context login: CKR_USER_NOT_LOGGED_IN") {
        REQUIRE(f.p11->C_SignInit(s, &mechanism, key) == CKR_OK);
        CHECK(f.p11->C_Sign(s, data.data(), static_cast<CK_ULONG>(data.size()), signature.data(), &length) ==
              CKR_USER_NOT_LOGGED_IN);
    }
    SECTION("with it: signs") {
        REQUIRE(f.p11->C_SignInit(s, &mechanism, key) == CKR_OK);
        REQUIRE(f.try_login(s, sign_pin, CKU_CONTEXT_SPECIFIC) == CKR_OK);
        REQUIRE(f.p11->C_Sign(s, data.data(), static_cast<CK_ULONG>(data.size()), signature.data(), &length) ==
                CKR_OK);
        CHECK(openssl_verifies(pki_file("sign-cert.der"), CKM_SHA256_RSA_PKCS, data, signature));
    }
}

// What LibreOffice's PDF signing and pdfsig without -kpw hand NSS's context-specific login: the
// empty password they were given (issue 10, docs/module.md "JPKI_PKCS11_ALWAYS_AUTH"). Refused by
// its form, nothing sent to the card, no try spent; the signature stays pending.
TEST_CASE("an empty C_Login(CKU_CONTEXT_SPECIFIC) PIN is refused before any APDU", "[sign][login]") {
    Setup setup;
    setup.env = {{"JPKI_PKCS11_ALWAYS_AUTH", "1"}};
    Fixture f(setup);
    const CK_SESSION_HANDLE s = f.open(sign_slot);
    f.login(s, sign_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_sign);
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    REQUIRE(f.p11->C_SignInit(s, &mechanism, key) == CKR_OK);
    const auto before = f.apdus().size();
    CHECK(f.try_login(s, "", CKU_CONTEXT_SPECIFIC) == CKR_PIN_LEN_RANGE);
    CHECK(f.try_login(s, "ABC", CKU_CONTEXT_SPECIFIC) == CKR_PIN_LEN_RANGE);
    CHECK(f.apdus().size() == before);
    CHECK(f.card()->tries_left(jpki::vcard::Pin::Sign) == 5);
    // The right one still completes the pending signature.
    REQUIRE(f.try_login(s, sign_pin, CKU_CONTEXT_SPECIFIC) == CKR_OK);
    Bytes data = bytes_of("after a refused context PIN");
    Bytes signature(256);
    CK_ULONG length = 256;
    CHECK(f.p11->C_Sign(s, data.data(), static_cast<CK_ULONG>(data.size()), signature.data(), &length) == CKR_OK);
}

TEST_CASE("C_Verify checks signatures in software with the public key", "[verify]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    const CK_OBJECT_HANDLE public_key = f.find_one(s, CKO_PUBLIC_KEY, id_auth);
    const CK_MECHANISM_TYPE type = GENERATE(CKM_RSA_PKCS, CKM_SHA1_RSA_PKCS, CKM_SHA256_RSA_PKCS, CKM_SHA512_RSA_PKCS);
    INFO("mechanism " << type);
    Bytes data = type == CKM_RSA_PKCS ? sha256_digest_info(bytes_of("verify me")) : bytes_of("verify me");
    Bytes signature = f.sign(s, type, key, data);
    CK_MECHANISM mechanism{type, nullptr, 0};
    const auto verify = [&](Bytes& signed_data, Bytes& sig) {
        REQUIRE(f.p11->C_VerifyInit(s, &mechanism, public_key) == CKR_OK);
        return f.p11->C_Verify(s, signed_data.data(), static_cast<CK_ULONG>(signed_data.size()), sig.data(),
                               static_cast<CK_ULONG>(sig.size()));
    };
    const std::size_t apdus_before = f.apdus().size();
    CHECK(verify(data, signature) == CKR_OK);
    Bytes flipped = signature;
    flipped[100] ^= 0x01;
    CHECK(verify(data, flipped) == CKR_SIGNATURE_INVALID);
    Bytes other_data = data;
    other_data.back() ^= 0x80;
    CHECK(verify(other_data, signature) == CKR_SIGNATURE_INVALID);
    Bytes short_signature(signature.begin(), signature.end() - 1);
    CHECK(verify(data, short_signature) == CKR_SIGNATURE_LEN_RANGE);
    Bytes long_signature = signature;
    long_signature.push_back(0);
    CHECK(verify(data, long_signature) == CKR_SIGNATURE_LEN_RANGE);
    CHECK(f.apdus().size() == apdus_before);  // all in software
}

TEST_CASE("C_VerifyUpdate / C_VerifyFinal verify a multi-part signature without login", "[verify]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const std::vector<Bytes> parts = {bytes_of("alpha "), bytes_of("beta "), bytes_of("gamma")};
    Bytes signature = f.sign_parts(s, CKM_SHA384_RSA_PKCS, f.find_one(s, CKO_PRIVATE_KEY, id_auth), parts);
    REQUIRE(f.p11->C_Logout(s) == CKR_OK);
    const CK_OBJECT_HANDLE public_key = f.find_one(s, CKO_PUBLIC_KEY, id_auth);
    CK_MECHANISM mechanism{CKM_SHA384_RSA_PKCS, nullptr, 0};
    REQUIRE(f.p11->C_VerifyInit(s, &mechanism, public_key) == CKR_OK);
    CHECK(f.p11->C_VerifyInit(s, &mechanism, public_key) == CKR_OPERATION_ACTIVE);
    for (Bytes part : parts) REQUIRE(f.p11->C_VerifyUpdate(s, part.data(), static_cast<CK_ULONG>(part.size())) == CKR_OK);
    CHECK(f.p11->C_VerifyFinal(s, signature.data(), 256) == CKR_OK);
    CHECK(f.p11->C_VerifyFinal(s, signature.data(), 256) == CKR_OPERATION_NOT_INITIALIZED);
    // Wrong data through the multi-part path.
    REQUIRE(f.p11->C_VerifyInit(s, &mechanism, public_key) == CKR_OK);
    Bytes wrong = bytes_of("alpha beta delta");
    REQUIRE(f.p11->C_VerifyUpdate(s, wrong.data(), static_cast<CK_ULONG>(wrong.size())) == CKR_OK);
    CHECK(f.p11->C_VerifyFinal(s, signature.data(), 256) == CKR_SIGNATURE_INVALID);
}

TEST_CASE("C_Verify without C_VerifyInit answers CKR_OPERATION_NOT_INITIALIZED, the private key cannot verify",
          "[verify]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    Bytes data = bytes_of("x");
    Bytes signature(256);
    CHECK(f.p11->C_Verify(s, data.data(), 1, signature.data(), 256) == CKR_OPERATION_NOT_INITIALIZED);
    CHECK(f.p11->C_VerifyUpdate(s, data.data(), 1) == CKR_OPERATION_NOT_INITIALIZED);
    CHECK(f.p11->C_VerifyFinal(s, signature.data(), 256) == CKR_OPERATION_NOT_INITIALIZED);
    f.login(s, auth_pin);
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    CHECK(f.p11->C_VerifyInit(s, &mechanism, f.find_one(s, CKO_PRIVATE_KEY, id_auth)) ==
          CKR_KEY_FUNCTION_NOT_PERMITTED);
    CK_MECHANISM x509{CKM_RSA_X_509, nullptr, 0};
    CHECK(f.p11->C_VerifyInit(s, &x509, f.find_one(s, CKO_PUBLIC_KEY, id_auth)) == CKR_MECHANISM_INVALID);
}
