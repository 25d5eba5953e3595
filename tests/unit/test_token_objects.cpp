// Attribute rules of PKCS#11 2.40 §5.7.5 (C_GetAttributeValue) and §5.7.7 (template matching),
// as token::Object applies them, and the objects made from the test PKI's certificates.
#include "crypto/certificate.hpp"
#include "crypto/error.hpp"
#include "token/errors.hpp"
#include "token/objects.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>

using jpki::Bytes;
using jpki::token::KeyRole;
using jpki::token::Object;

namespace {

Bytes read_pki(const char* name) {
    std::ifstream in(std::string(JPKI_TEST_PKI_DIR) + "/" + name, std::ios::binary);
    REQUIRE(in);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

CK_ATTRIBUTE attribute(CK_ATTRIBUTE_TYPE type, void* value = nullptr, CK_ULONG length = 0) {
    return CK_ATTRIBUTE{type, value, length};
}

}  // namespace

TEST_CASE("object attributes: a null pValue asks for the size", "[token][attributes]") {
    Object object(7, CKO_DATA);
    object.set_text(CKA_LABEL, "hello");
    CK_ATTRIBUTE query[] = {attribute(CKA_LABEL), attribute(CKA_CLASS)};
    CHECK(object.get_attributes(query) == CKR_OK);
    CHECK(query[0].ulValueLen == 5);
    CHECK(query[1].ulValueLen == sizeof(CK_OBJECT_CLASS));
}

TEST_CASE("object attributes: every attribute is processed even when one fails", "[token][attributes]") {
    Object object(7, CKO_PRIVATE_KEY);
    object.set_text(CKA_LABEL, "key").set_sensitive(CKA_PRIVATE_EXPONENT);
    char label[16] = {};
    char too_small[1] = {};
    CK_BBOOL token = CK_FALSE;
    std::uint8_t secret[16] = {};

    SECTION("unknown attribute: CKR_ATTRIBUTE_TYPE_INVALID, the others filled") {
        CK_ATTRIBUTE query[] = {attribute(CKA_VALUE_LEN, secret, sizeof secret), attribute(CKA_LABEL, label, sizeof label),
                                attribute(CKA_TOKEN, &token, sizeof token)};
        CHECK(object.get_attributes(query) == CKR_ATTRIBUTE_TYPE_INVALID);
        CHECK(query[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
        CHECK(query[1].ulValueLen == 3);
        CHECK(std::string(label, 3) == "key");
        CHECK(token == CK_TRUE);
    }
    SECTION("sensitive attribute: CKR_ATTRIBUTE_SENSITIVE, nothing revealed") {
        CK_ATTRIBUTE query[] = {attribute(CKA_PRIVATE_EXPONENT, secret, sizeof secret), attribute(CKA_LABEL, label, sizeof label)};
        CHECK(object.get_attributes(query) == CKR_ATTRIBUTE_SENSITIVE);
        CHECK(query[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
        CHECK(query[1].ulValueLen == 3);
    }
    SECTION("buffer too small: CKR_BUFFER_TOO_SMALL for that one only") {
        CK_ATTRIBUTE query[] = {attribute(CKA_LABEL, too_small, sizeof too_small), attribute(CKA_TOKEN, &token, sizeof token)};
        CHECK(object.get_attributes(query) == CKR_BUFFER_TOO_SMALL);
        CHECK(query[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
        CHECK(token == CK_TRUE);
    }
}

TEST_CASE("object matching: every template attribute must be present with the same bytes", "[token][attributes]") {
    Object object(9, CKO_CERTIFICATE);
    object.set(CKA_ID, Bytes{0x01}).set_sensitive(CKA_VALUE);
    CK_OBJECT_CLASS certificate = CKO_CERTIFICATE;
    CK_OBJECT_CLASS key = CKO_PRIVATE_KEY;
    std::uint8_t id1 = 0x01;
    std::uint8_t id2 = 0x02;
    std::uint8_t id_long[2] = {0x01, 0x00};
    std::uint8_t value = 0;

    const CK_ATTRIBUTE by_class[] = {attribute(CKA_CLASS, &certificate, sizeof certificate)};
    const CK_ATTRIBUTE by_class_and_id[] = {attribute(CKA_CLASS, &certificate, sizeof certificate), attribute(CKA_ID, &id1, 1)};
    const CK_ATTRIBUTE wrong_class[] = {attribute(CKA_CLASS, &key, sizeof key)};
    const CK_ATTRIBUTE wrong_id[] = {attribute(CKA_ID, &id2, 1)};
    const CK_ATTRIBUTE longer_id[] = {attribute(CKA_ID, id_long, 2)};
    const CK_ATTRIBUTE missing[] = {attribute(CKA_LABEL, &value, 1)};
    const CK_ATTRIBUTE sensitive[] = {attribute(CKA_VALUE, &value, 1)};
    CHECK(object.matches({}));  // the empty template matches every object
    CHECK(object.matches(by_class));
    CHECK(object.matches(by_class_and_id));
    CHECK_FALSE(object.matches(wrong_class));
    CHECK_FALSE(object.matches(wrong_id));
    CHECK_FALSE(object.matches(longer_id));
    CHECK_FALSE(object.matches(missing));
    CHECK_FALSE(object.matches(sensitive));
}

TEST_CASE("object matching before the certificate is read: known attributes decide when they can", "[token][attributes]") {
    Object stub(3, CKO_CERTIFICATE);
    stub.set(CKA_ID, Bytes{0x03}).mark_incomplete();
    CK_OBJECT_CLASS key = CKO_PRIVATE_KEY;
    CK_OBJECT_CLASS certificate = CKO_CERTIFICATE;
    std::uint8_t subject = 0x30;
    const CK_ATTRIBUTE other_class[] = {attribute(CKA_CLASS, &key, sizeof key)};
    const CK_ATTRIBUTE same_class[] = {attribute(CKA_CLASS, &certificate, sizeof certificate)};
    const CK_ATTRIBUTE needs_subject[] = {attribute(CKA_CLASS, &certificate, sizeof certificate),
                                          attribute(CKA_SUBJECT, &subject, 1)};
    const CK_ATTRIBUTE mismatch_first[] = {attribute(CKA_CLASS, &key, sizeof key), attribute(CKA_SUBJECT, &subject, 1)};
    CHECK(stub.matches_known(other_class) == false);
    CHECK(stub.matches_known(same_class) == true);
    CHECK_FALSE(stub.matches_known(needs_subject).has_value());  // the certificate must be read
    CHECK(stub.matches_known(mismatch_first) == false);           // ... unless a known one already fails
}

TEST_CASE("objects from the test PKI: certificate, public and private key attributes", "[token][attributes]") {
    jpki::crypto::Context context;
    const Bytes der = read_pki("auth-cert.der");
    const jpki::crypto::Certificate certificate(context, der);
    const jpki::token::CertificateObjects spec{&certificate, Bytes{0x01}, "User Authentication Certificate", false, false};

    const Object cert = jpki::token::make_certificate(1, spec);
    REQUIRE(cert.find(CKA_VALUE) != nullptr);
    CHECK(*cert.find(CKA_VALUE) == der);
    CHECK(*cert.find(CKA_SUBJECT) == certificate.subject_der());
    CHECK(*cert.find(CKA_SERIAL_NUMBER) == certificate.serial_number_der());
    CHECK(*cert.find(CKA_TRUSTED) == Bytes{CK_FALSE});
    CHECK(*cert.find(CKA_START_DATE) == Bytes{'2', '0', '2', '5', '0', '3', '0', '1'});
    CHECK(*cert.find(CKA_END_DATE) == Bytes{'2', '0', '2', '9', '0', '7', '1', '4'});

    const Object key = jpki::token::make_private_key(2, spec, KeyRole::Auth, false);
    CHECK(key.is_private());
    CHECK(key.key_role() == KeyRole::Auth);
    CHECK(key.find(CKA_MODULUS)->size() == 256);
    CHECK(*key.find(CKA_PUBLIC_EXPONENT) == Bytes{0x01, 0x00, 0x01});
    CHECK(*key.find(CKA_SIGN) == Bytes{CK_TRUE});
    CHECK(*key.find(CKA_DECRYPT) == Bytes{CK_FALSE});
    CHECK(*key.find(CKA_SENSITIVE) == Bytes{CK_TRUE});
    CHECK(*key.find(CKA_EXTRACTABLE) == Bytes{CK_FALSE});
    CHECK(*key.find(CKA_ALWAYS_AUTHENTICATE) == Bytes{CK_FALSE});
    std::uint8_t buffer[256];
    CK_ATTRIBUTE exponent[] = {attribute(CKA_PRIVATE_EXPONENT, buffer, sizeof buffer)};
    CHECK(key.get_attributes(exponent) == CKR_ATTRIBUTE_SENSITIVE);

    const Object public_key = jpki::token::make_public_key(3, spec, KeyRole::Auth);
    CHECK_FALSE(public_key.is_private());
    CHECK(*public_key.find(CKA_MODULUS) == *key.find(CKA_MODULUS));
    CHECK(*public_key.find(CKA_VERIFY) == Bytes{CK_TRUE});

    const Object profile = jpki::token::make_public_certificates_profile(4);
    CK_ULONG profile_id = 0;
    CK_ATTRIBUTE id[] = {attribute(CKA_PROFILE_ID, &profile_id, sizeof profile_id)};
    CHECK(profile.get_attributes(id) == CKR_OK);
    CHECK(profile_id == CKP_PUBLIC_CERTIFICATES_TOKEN);
}

TEST_CASE("objects from a certificate whose key does not decode: CKR_DEVICE_ERROR, not a crypto error",
          "[token][attributes][hostile]") {
    // A damaged certificate EF (found by the hostile card and fuzz_certificate): the DER still
    // parses, but the RSAPublicKey inside subjectPublicKeyInfo has a wrong tag.
    jpki::crypto::Context context;
    Bytes der = read_pki("auth-cert.der");
    const Bytes spki_key = {0x03, 0x82, 0x01, 0x0F, 0x00, 0x30, 0x82, 0x01, 0x0A};
    const auto at = std::search(der.begin(), der.end(), spki_key.begin(), spki_key.end());
    REQUIRE(at != der.end());
    at[5] = 0x31;  // SEQUENCE -> SET
    const jpki::crypto::Certificate certificate(context, der);
    CHECK_THROWS_AS(certificate.public_key(), jpki::crypto::Error);
    const jpki::token::CertificateObjects spec{&certificate, Bytes{0x01}, "User Authentication Certificate", false, false};

    CHECK(*jpki::token::make_certificate(1, spec).find(CKA_VALUE) == der);  // the certificate itself is fine
    const auto device_error = [](const jpki::token::Error& error) { return error.rv() == CKR_DEVICE_ERROR; };
    CHECK_THROWS_MATCHES(jpki::token::make_public_key(2, spec, KeyRole::Auth), jpki::token::Error,
                         Catch::Matchers::Predicate<jpki::token::Error>(device_error));
    CHECK_THROWS_MATCHES(jpki::token::make_private_key(3, spec, KeyRole::Auth, false), jpki::token::Error,
                         Catch::Matchers::Predicate<jpki::token::Error>(device_error));
}
