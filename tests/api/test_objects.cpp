// Objects and attributes (docs/design.md §3 "Objects", §7 "Attribute rules in one place"): what
// each token shows before and after login, C_FindObjects templates, attribute values checked
// against the test PKI with OpenSSL, and the C_GetAttributeValue rules of PKCS#11 2.40 §5.7.5.
#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

using namespace apitest;

namespace {

// (class, CKA_ID) of every object a session sees; profile objects have no CKA_ID (id 0 here).
std::multiset<std::pair<CK_OBJECT_CLASS, int>> inventory(Fixture& f, CK_SESSION_HANDLE session) {
    std::multiset<std::pair<CK_OBJECT_CLASS, int>> out;
    for (const CK_OBJECT_HANDLE object : f.find(session, {})) {
        const CK_OBJECT_CLASS object_class = f.ulong_attribute(session, object, CKA_CLASS);
        int id = 0;
        if (object_class != CKO_PROFILE) {
            const Bytes value = f.attribute(session, object, CKA_ID);
            REQUIRE(value.size() == 1);
            id = value[0];
        }
        out.insert({object_class, id});
    }
    return out;
}

using Inventory = std::multiset<std::pair<CK_OBJECT_CLASS, int>>;

}  // namespace

TEST_CASE("the auth token shows cert, public key, CA cert and the profile before login, the private key after",
          "[objects]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    const Inventory public_objects = {
        {CKO_CERTIFICATE, id_auth}, {CKO_PUBLIC_KEY, id_auth}, {CKO_CERTIFICATE, id_auth_ca}, {CKO_PROFILE, 0}};
    CHECK(inventory(f, s) == public_objects);

    const CK_OBJECT_CLASS profile_class = CKO_PROFILE;
    const auto profiles = f.find(s, {{CKA_CLASS, const_cast<CK_OBJECT_CLASS*>(&profile_class), sizeof profile_class}});
    REQUIRE(profiles.size() == 1);
    CHECK(f.ulong_attribute(s, profiles[0], CKA_PROFILE_ID) == CKP_PUBLIC_CERTIFICATES_TOKEN);
    CHECK(CKP_PUBLIC_CERTIFICATES_TOKEN == 4);

    f.login(s, auth_pin);
    Inventory after = public_objects;
    after.insert({CKO_PRIVATE_KEY, id_auth});
    CHECK(inventory(f, s) == after);

    REQUIRE(f.p11->C_Logout(s) == CKR_OK);
    CHECK(inventory(f, s) == public_objects);
}

TEST_CASE("the sign token shows only its CA cert before login, cert, public and private key after, gone after logout",
          "[objects]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(sign_slot);
    const Inventory before = {{CKO_CERTIFICATE, id_sign_ca}};
    CHECK(inventory(f, s) == before);
    f.login(s, sign_pin);
    const Inventory after = {{CKO_CERTIFICATE, id_sign_ca},
                             {CKO_CERTIFICATE, id_sign},
                             {CKO_PUBLIC_KEY, id_sign},
                             {CKO_PRIVATE_KEY, id_sign}};
    CHECK(inventory(f, s) == after);
    // Handles seen while logged in are no longer valid for the caller after logout.
    const CK_OBJECT_HANDLE certificate = f.find_one(s, CKO_CERTIFICATE, id_sign);
    REQUIRE(f.p11->C_Logout(s) == CKR_OK);
    CHECK(inventory(f, s) == before);
    CK_ULONG value = 0;
    CK_ATTRIBUTE attribute{CKA_CLASS, &value, sizeof value};
    CHECK(f.p11->C_GetAttributeValue(s, certificate, &attribute, 1) == CKR_OBJECT_HANDLE_INVALID);
}

TEST_CASE("logging in to the auth token does not reveal the sign token's private objects", "[objects][login]") {
    Fixture f;
    const CK_SESSION_HANDLE auth = f.open(auth_slot);
    const CK_SESSION_HANDLE sign = f.open(sign_slot);
    f.login(auth, auth_pin);
    CHECK(inventory(f, sign) == Inventory{{CKO_CERTIFICATE, id_sign_ca}});
    CK_SESSION_INFO info{};
    REQUIRE(f.p11->C_GetSessionInfo(sign, &info) == CKR_OK);
    CHECK(info.state == CKS_RO_PUBLIC_SESSION);
}

TEST_CASE("C_FindObjects matches templates by class, by id, by class and id, and an empty template finds all",
          "[objects]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    CK_OBJECT_CLASS certificate_class = CKO_CERTIFICATE;
    CK_OBJECT_CLASS private_class = CKO_PRIVATE_KEY;
    CK_BYTE id = id_auth;
    CK_BYTE ca_id = id_auth_ca;
    CK_BYTE missing_id = 0x42;
    CK_BBOOL yes = CK_TRUE;

    CHECK(f.find(s, {}).size() == 5);
    CHECK(f.find(s, {{CKA_CLASS, &certificate_class, sizeof certificate_class}}).size() == 2);
    CHECK(f.find(s, {{CKA_ID, &id, 1}}).size() == 3);  // certificate, public key, private key
    CHECK(f.find(s, {{CKA_ID, &ca_id, 1}}).size() == 1);
    CHECK(f.find(s, {{CKA_CLASS, &private_class, sizeof private_class}, {CKA_ID, &id, 1}}).size() == 1);
    CHECK(f.find(s, {{CKA_CLASS, &certificate_class, sizeof certificate_class}, {CKA_ID, &ca_id, 1}}).size() == 1);
    CHECK(f.find(s, {{CKA_CLASS, &private_class, sizeof private_class}, {CKA_ID, &ca_id, 1}}).empty());
    CHECK(f.find(s, {{CKA_ID, &missing_id, 1}}).empty());
    CHECK(f.find(s, {{CKA_TOKEN, &yes, 1}}).size() == 5);
    CHECK(f.find(s, {{CKA_SIGN, &yes, 1}}).size() == 1);
    // A template naming an attribute no object has finds nothing (no error).
    CK_ULONG nothing = 0;
    CHECK(f.find(s, {{CKA_VALUE_LEN, &nothing, sizeof nothing}}).empty());
    // Matching by CKA_LABEL as PKCS#11 URIs written for OpenSC do.
    const std::string label = "User Authentication Certificate";
    CHECK(f.find(s, {{CKA_LABEL, const_cast<char*>(label.data()), static_cast<CK_ULONG>(label.size())}}).size() == 1);
}

TEST_CASE("C_FindObjects operations: one at a time per session, Final ends it", "[objects]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    CK_OBJECT_HANDLE objects[10];
    CK_ULONG count = 99;
    CHECK(f.p11->C_FindObjects(s, objects, 10, &count) == CKR_OPERATION_NOT_INITIALIZED);
    CHECK(f.p11->C_FindObjectsFinal(s) == CKR_OPERATION_NOT_INITIALIZED);
    REQUIRE(f.p11->C_FindObjectsInit(s, nullptr, 0) == CKR_OK);
    CHECK(f.p11->C_FindObjectsInit(s, nullptr, 0) == CKR_OPERATION_ACTIVE);
    REQUIRE(f.p11->C_FindObjects(s, objects, 10, &count) == CKR_OK);
    CHECK(count == 4);
    REQUIRE(f.p11->C_FindObjects(s, objects, 10, &count) == CKR_OK);
    CHECK(count == 0);
    REQUIRE(f.p11->C_FindObjectsFinal(s) == CKR_OK);
    CHECK(f.p11->C_FindObjects(s, objects, 10, &count) == CKR_OPERATION_NOT_INITIALIZED);
}

TEST_CASE("certificate CKA_VALUE is the DER in tests/pki and SUBJECT, ISSUER, SERIAL_NUMBER match OpenSSL",
          "[objects][attributes]") {
    Fixture f;
    const CK_SESSION_HANDLE auth = f.open(auth_slot);
    const CK_SESSION_HANDLE sign = f.open(sign_slot);
    f.login(sign, sign_pin);
    struct Case {
        CK_SESSION_HANDLE session;
        std::uint8_t id;
        const char* file;
        CK_ULONG category;
        const char* label;
    };
    for (const Case& c : {Case{auth, id_auth, "auth-cert.der", 1, "User Authentication Certificate"},
                          Case{auth, id_auth_ca, "auth-ca.der", 2, "User Authentication Certificate CA"},
                          Case{sign, id_sign, "sign-cert.der", 1, "Digital Signature Certificate"},
                          Case{sign, id_sign_ca, "sign-ca.der", 2, "Digital Signature Certificate CA"}}) {
        INFO(c.file);
        const Bytes der = pki_file(c.file);
        const CertificateFacts facts = certificate_facts(der);
        const CK_OBJECT_HANDLE object = f.find_one(c.session, CKO_CERTIFICATE, c.id);
        CHECK(f.attribute(c.session, object, CKA_VALUE) == der);
        CHECK(f.attribute(c.session, object, CKA_SUBJECT) == facts.subject);
        CHECK(f.attribute(c.session, object, CKA_ISSUER) == facts.issuer);
        CHECK(f.attribute(c.session, object, CKA_SERIAL_NUMBER) == facts.serial_number);
        CHECK(f.ulong_attribute(c.session, object, CKA_CERTIFICATE_TYPE) == CKC_X_509);
        CHECK(f.ulong_attribute(c.session, object, CKA_CERTIFICATE_CATEGORY) == c.category);
        CHECK(f.bool_attribute(c.session, object, CKA_TOKEN));
        CHECK_FALSE(f.bool_attribute(c.session, object, CKA_TRUSTED));
        CHECK_FALSE(f.bool_attribute(c.session, object, CKA_MODIFIABLE));
        const Bytes label = f.attribute(c.session, object, CKA_LABEL);
        CHECK(std::string(label.begin(), label.end()) == c.label);
        CHECK(f.attribute(c.session, object, CKA_START_DATE).size() == 8);
        CHECK(f.attribute(c.session, object, CKA_END_DATE).size() == 8);
    }
}

TEST_CASE("key objects carry the certificate's modulus and exponent and the signing-only flags",
          "[objects][attributes]") {
    Fixture f;
    const CK_SESSION_HANDLE auth = f.open(auth_slot);
    const CK_SESSION_HANDLE sign = f.open(sign_slot);
    f.login(auth, auth_pin);
    f.login(sign, sign_pin);
    for (const auto& [session, id, file] : {std::tuple{auth, id_auth, "auth-cert.der"},
                                            std::tuple{sign, id_sign, "sign-cert.der"}}) {
        INFO(file);
        const CertificateFacts facts = certificate_facts(pki_file(file));
        REQUIRE(facts.modulus.size() == 256);
        for (const CK_OBJECT_CLASS object_class : {CKO_PUBLIC_KEY, CKO_PRIVATE_KEY}) {
            INFO("class " << object_class);
            const CK_OBJECT_HANDLE key = f.find_one(session, object_class, id);
            CHECK(f.ulong_attribute(session, key, CKA_KEY_TYPE) == CKK_RSA);
            const Bytes modulus = f.attribute(session, key, CKA_MODULUS);
            CHECK(modulus.size() == 256);
            CHECK(modulus == facts.modulus);
            CHECK(f.attribute(session, key, CKA_PUBLIC_EXPONENT) == Bytes{0x01, 0x00, 0x01});
            CHECK(f.ulong_attribute(session, key, CKA_MODULUS_BITS) == 2048);
            CHECK(f.attribute(session, key, CKA_SUBJECT) == facts.subject);
            CHECK(f.bool_attribute(session, key, CKA_TOKEN));
        }
        const CK_OBJECT_HANDLE key = f.find_one(session, CKO_PRIVATE_KEY, id);
        CHECK(f.bool_attribute(session, key, CKA_SIGN));
        CHECK_FALSE(f.bool_attribute(session, key, CKA_DECRYPT));
        CHECK_FALSE(f.bool_attribute(session, key, CKA_UNWRAP));
        CHECK_FALSE(f.bool_attribute(session, key, CKA_SIGN_RECOVER));
        CHECK(f.bool_attribute(session, key, CKA_SENSITIVE));
        CHECK(f.bool_attribute(session, key, CKA_ALWAYS_SENSITIVE));
        CHECK_FALSE(f.bool_attribute(session, key, CKA_EXTRACTABLE));
        CHECK(f.bool_attribute(session, key, CKA_NEVER_EXTRACTABLE));
        CHECK(f.bool_attribute(session, key, CKA_PRIVATE));
        CHECK_FALSE(f.bool_attribute(session, key, CKA_ALWAYS_AUTHENTICATE));
        const CK_OBJECT_HANDLE public_key = f.find_one(session, CKO_PUBLIC_KEY, id);
        CHECK(f.bool_attribute(session, public_key, CKA_VERIFY));
        CHECK_FALSE(f.bool_attribute(session, public_key, CKA_ENCRYPT));
    }
}

TEST_CASE("JPKI_PKCS11_ALWAYS_AUTH=1 makes the sign key CKA_ALWAYS_AUTHENTICATE, not the auth key",
          "[objects][attributes]") {
    Setup setup;
    setup.env = {{"JPKI_PKCS11_ALWAYS_AUTH", "1"}};
    Fixture f(setup);
    const CK_SESSION_HANDLE auth = f.open(auth_slot);
    const CK_SESSION_HANDLE sign = f.open(sign_slot);
    f.login(auth, auth_pin);
    f.login(sign, sign_pin);
    CHECK(f.bool_attribute(sign, f.find_one(sign, CKO_PRIVATE_KEY, id_sign), CKA_ALWAYS_AUTHENTICATE));
    CHECK_FALSE(f.bool_attribute(auth, f.find_one(auth, CKO_PRIVATE_KEY, id_auth), CKA_ALWAYS_AUTHENTICATE));
}

TEST_CASE("C_GetAttributeValue with NULL pValue gives every attribute's size", "[attributes][two-call]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    const CK_OBJECT_HANDLE certificate = f.find_one(s, CKO_CERTIFICATE, id_auth);
    const Bytes der = pki_file("auth-cert.der");
    CK_ATTRIBUTE query[] = {{CKA_VALUE, nullptr, 0}, {CKA_ID, nullptr, 0}, {CKA_CLASS, nullptr, 0},
                            {CKA_SUBJECT, nullptr, 0}};
    REQUIRE(f.p11->C_GetAttributeValue(s, certificate, query, 4) == CKR_OK);
    CHECK(query[0].ulValueLen == der.size());
    CHECK(query[1].ulValueLen == 1);
    CHECK(query[2].ulValueLen == sizeof(CK_OBJECT_CLASS));
    CHECK(query[3].ulValueLen == certificate_facts(der).subject.size());
}

TEST_CASE("C_GetAttributeValue with a buffer too small: CKR_BUFFER_TOO_SMALL for it, the others filled",
          "[attributes][two-call]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    const CK_OBJECT_HANDLE certificate = f.find_one(s, CKO_CERTIFICATE, id_auth);
    CK_BYTE small[10];
    CK_BYTE id = 0;
    CK_OBJECT_CLASS object_class = 0;
    CK_ATTRIBUTE query[] = {{CKA_ID, &id, 1}, {CKA_VALUE, small, sizeof small}, {CKA_CLASS, &object_class, sizeof object_class}};
    CHECK(f.p11->C_GetAttributeValue(s, certificate, query, 3) == CKR_BUFFER_TOO_SMALL);
    CHECK(query[0].ulValueLen == 1);
    CHECK(id == id_auth);
    CHECK(query[1].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    CHECK(query[2].ulValueLen == sizeof object_class);
    CHECK(object_class == CKO_CERTIFICATE);
}

TEST_CASE("C_GetAttributeValue of a sensitive attribute answers CKR_ATTRIBUTE_SENSITIVE, the others filled",
          "[attributes]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    CK_BYTE exponent[512];
    CK_BBOOL can_sign = CK_FALSE;
    CK_ATTRIBUTE query[] = {{CKA_PRIVATE_EXPONENT, exponent, sizeof exponent}, {CKA_SIGN, &can_sign, 1}};
    CHECK(f.p11->C_GetAttributeValue(s, key, query, 2) == CKR_ATTRIBUTE_SENSITIVE);
    CHECK(query[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    CHECK(query[1].ulValueLen == 1);
    CHECK(can_sign == CK_TRUE);
    for (const CK_ATTRIBUTE_TYPE secret : {CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT}) {
        CK_ATTRIBUTE one{secret, nullptr, 0};
        CHECK(f.p11->C_GetAttributeValue(s, key, &one, 1) == CKR_ATTRIBUTE_SENSITIVE);
        CHECK(one.ulValueLen == CK_UNAVAILABLE_INFORMATION);
    }
}

TEST_CASE("C_GetAttributeValue of an unknown attribute answers CKR_ATTRIBUTE_TYPE_INVALID, the others filled",
          "[attributes]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    const CK_OBJECT_HANDLE certificate = f.find_one(s, CKO_CERTIFICATE, id_auth);
    CK_BYTE buffer[64];
    CK_BYTE id = 0;
    CK_ATTRIBUTE query[] = {{CKA_MODULUS, buffer, sizeof buffer}, {CKA_ID, &id, 1}, {CKA_VENDOR_DEFINED + 77, buffer, 4}};
    CHECK(f.p11->C_GetAttributeValue(s, certificate, query, 3) == CKR_ATTRIBUTE_TYPE_INVALID);
    CHECK(query[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    CHECK(query[1].ulValueLen == 1);
    CHECK(id == id_auth);
    CHECK(query[2].ulValueLen == CK_UNAVAILABLE_INFORMATION);
}

TEST_CASE("the private key is invisible without login, its handle invalid", "[objects][login]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    REQUIRE(f.p11->C_Logout(s) == CKR_OK);
    CHECK_FALSE(f.find_optional(s, CKO_PRIVATE_KEY, id_auth).has_value());
    CK_BBOOL value;
    CK_ATTRIBUTE query{CKA_SIGN, &value, 1};
    CHECK(f.p11->C_GetAttributeValue(s, key, &query, 1) == CKR_OBJECT_HANDLE_INVALID);
    // Logging in again shows the same object under the same handle.
    f.login(s, auth_pin);
    CHECK(f.find_one(s, CKO_PRIVATE_KEY, id_auth) == key);
}
