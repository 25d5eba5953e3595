// RSA-PSS through the card (issue 12, docs/design.md §6): CKM_RSA_PKCS_PSS and
// CKM_SHA256_RSA_PKCS_PSS are listed for a key only where the `pss` setting allows and, under
// the default `auto`, only once the card has proven it: the first login on the authentication
// token sends one P1 04 signature over a random hash and checks it; the outcome is kept per card
// in the per-user cache. The signing key is never proven on the module's own initiative.
#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>

using namespace apitest;

namespace {

// COMPUTE DIGITAL SIGNATURE P1 04 (PSS) and P1 00 (PKCS#1 v1.5), docs/card.md "Sign".
std::size_t pss_apdus(const Fixture& f) { return count_prefix(f.apdus(), "802A04"); }
std::size_t pkcs1_apdus(const Fixture& f) { return count_prefix(f.apdus(), "802A00"); }

bool lists(Fixture& f, CK_SLOT_ID slot, CK_MECHANISM_TYPE type) {
    const auto mechanisms = f.mechanism_list(slot);
    return std::find(mechanisms.begin(), mechanisms.end(), type) != mechanisms.end();
}

CK_RSA_PKCS_PSS_PARAMS pss_params() { return CK_RSA_PKCS_PSS_PARAMS{CKM_SHA256, CKG_MGF1_SHA256, 32}; }

// C_SignInit + C_Sign with PSS parameters; the CK_RV of the first call that fails, else CKR_OK.
CK_RV sign_pss(Fixture& f, CK_SESSION_HANDLE s, CK_MECHANISM_TYPE type, CK_OBJECT_HANDLE key, const Bytes& data,
               Bytes& signature) {
    CK_RSA_PKCS_PSS_PARAMS params = pss_params();
    CK_MECHANISM mechanism{type, &params, sizeof params};
    if (const CK_RV rv = f.p11->C_SignInit(s, &mechanism, key); rv != CKR_OK) return rv;
    signature.assign(256, 0);
    CK_ULONG length = 256;
    Bytes input = data;
    const CK_RV rv = f.p11->C_Sign(s, input.data(), static_cast<CK_ULONG>(input.size()), signature.data(), &length);
    signature.resize(length);
    return rv;
}

Bytes sha256(const Bytes& data) {
    const Bytes info = sha256_digest_info(data);
    return Bytes(info.end() - 32, info.end());
}

Setup pss_card(bool card_does_pss, std::map<std::string, std::string> env = {}) {
    Setup setup = one_card([&](CardConfig& c) { c.pss = card_does_pss; });
    setup.env = std::move(env);
    return setup;
}

}  // namespace

TEST_CASE("pss=auto (default): a PSS card is proven at the first auth login, then PSS is listed and signs",
          "[pss][trace]") {
    Fixture f(pss_card(true));
    CHECK_FALSE(lists(f, auth_slot, CKM_RSA_PKCS_PSS));  // not proven yet: not offered
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    const CK_OBJECT_HANDLE public_key = f.find_one(s, CKO_PUBLIC_KEY, id_auth);
    Bytes signature;
    CHECK(sign_pss(f, s, CKM_RSA_PKCS_PSS, public_key, sha256(bytes_of("x")), signature) != CKR_OK);
    CHECK(pss_apdus(f) == 0);

    f.login(s, auth_pin);
    CHECK(pss_apdus(f) == 1);  // the proof: one P1 04, no PIN beyond the login's one VERIFY
    CHECK(count_verify_with_data(f.apdus()) == 1);
    CHECK(lists(f, auth_slot, CKM_RSA_PKCS_PSS));
    CHECK(lists(f, auth_slot, CKM_SHA256_RSA_PKCS_PSS));
    CHECK_FALSE(lists(f, sign_slot, CKM_RSA_PKCS_PSS));  // the signing key is never proven by the module

    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    const Bytes hash = sha256(bytes_of("TLS 1.3 CertificateVerify"));
    REQUIRE(sign_pss(f, s, CKM_RSA_PKCS_PSS, key, hash, signature) == CKR_OK);
    CHECK(openssl_verifies(pki_file("auth-cert.der"), CKM_RSA_PKCS_PSS, hash, signature));
    const Bytes message = bytes_of("a message the module hashes");
    REQUIRE(sign_pss(f, s, CKM_SHA256_RSA_PKCS_PSS, key, message, signature) == CKR_OK);
    CHECK(openssl_verifies(pki_file("auth-cert.der"), CKM_SHA256_RSA_PKCS_PSS, message, signature));
    CHECK(pss_apdus(f) == 3);

    // Logging in again does not prove again.
    REQUIRE(f.p11->C_Logout(s) == CKR_OK);
    f.login(s, auth_pin);
    CHECK(pss_apdus(f) == 3);
    // PKCS#1 v1.5 is unchanged.
    CHECK(openssl_verifies(pki_file("auth-cert.der"), CKM_SHA256_RSA_PKCS, message,
                           f.sign(s, CKM_SHA256_RSA_PKCS, key, message)));
}

TEST_CASE("pss=auto: a card that refuses P1 04 is asked once, PSS never listed, the login and PKCS#1 work",
          "[pss][trace]") {
    Fixture f(pss_card(false));
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);  // the refused proof does not fail the login
    CHECK(pss_apdus(f) == 1);
    CHECK_FALSE(lists(f, auth_slot, CKM_RSA_PKCS_PSS));
    CHECK_FALSE(lists(f, auth_slot, CKM_SHA256_RSA_PKCS_PSS));
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    Bytes signature;
    CHECK(sign_pss(f, s, CKM_RSA_PKCS_PSS, key, sha256(bytes_of("x")), signature) == CKR_MECHANISM_INVALID);
    REQUIRE(f.p11->C_Logout(s) == CKR_OK);
    f.login(s, auth_pin);
    CHECK(pss_apdus(f) == 1);  // "no" is remembered: never asked again
    const Bytes message = bytes_of("still signs");
    CHECK(openssl_verifies(pki_file("auth-cert.der"), CKM_SHA256_RSA_PKCS, message,
                           f.sign(s, CKM_SHA256_RSA_PKCS, key, message)));
}

TEST_CASE("pss=auto: the sign token's login proves nothing (no signature the holder did not ask for)",
          "[pss][trace]") {
    Fixture f(pss_card(true));
    const CK_SESSION_HANDLE s = f.open(sign_slot);
    f.login(s, sign_pin);
    CHECK(pss_apdus(f) == 0);
    CHECK(pkcs1_apdus(f) == 0);
    CHECK_FALSE(lists(f, sign_slot, CKM_RSA_PKCS_PSS));
}

TEST_CASE("pss=off: never listed, never sent, C_SignInit refuses it", "[pss][trace]") {
    const std::string where = GENERATE(std::string("env"), std::string("reserved"));
    INFO(where);
    Setup setup = pss_card(true);
    if (where == "env") setup.env = {{"JPKI_PKCS11_PSS", "off"}};
    else setup.reserved = "pss=off";
    Fixture f(setup);
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    CHECK_FALSE(lists(f, auth_slot, CKM_RSA_PKCS_PSS));
    Bytes signature;
    CHECK(sign_pss(f, s, CKM_RSA_PKCS_PSS, f.find_one(s, CKO_PRIVATE_KEY, id_auth), sha256(bytes_of("x")), signature) ==
          CKR_MECHANISM_INVALID);
    CK_MECHANISM_INFO info{};
    CHECK(f.p11->C_GetMechanismInfo(auth_slot, CKM_RSA_PKCS_PSS, &info) == CKR_MECHANISM_INVALID);
    CHECK(pss_apdus(f) == 0);
}

TEST_CASE("pss=on: listed on both tokens before any proof; parameters other than the card's are refused",
          "[pss][trace]") {
    Fixture f(pss_card(true, {{"JPKI_PKCS11_PSS", "on"}}));
    CHECK(lists(f, auth_slot, CKM_RSA_PKCS_PSS));
    CHECK(lists(f, sign_slot, CKM_SHA256_RSA_PKCS_PSS));
    CK_MECHANISM_INFO info{};
    REQUIRE(f.p11->C_GetMechanismInfo(auth_slot, CKM_RSA_PKCS_PSS, &info) == CKR_OK);
    CHECK(info.ulMinKeySize == 2048);
    CHECK(info.flags == (CKF_HW | CKF_SIGN));

    const CK_SESSION_HANDLE s = f.open(sign_slot);
    f.login(s, sign_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_sign);
    CK_RSA_PKCS_PSS_PARAMS sha384{CKM_SHA384, CKG_MGF1_SHA384, 48};
    CK_MECHANISM wrong{CKM_RSA_PKCS_PSS, &sha384, sizeof sha384};
    CHECK(f.p11->C_SignInit(s, &wrong, key) == CKR_MECHANISM_PARAM_INVALID);
    Bytes signature;
    CHECK(sign_pss(f, s, CKM_RSA_PKCS_PSS, key, Bytes(48, 0x11), signature) == CKR_DATA_LEN_RANGE);
    CHECK(pss_apdus(f) == 0);  // refused on the host
    const Bytes message = bytes_of("a document");
    REQUIRE(sign_pss(f, s, CKM_SHA256_RSA_PKCS_PSS, key, message, signature) == CKR_OK);
    CHECK(openssl_verifies(pki_file("sign-cert.der"), CKM_SHA256_RSA_PKCS_PSS, message, signature));

    // C_Verify takes the same rows.
    CK_RSA_PKCS_PSS_PARAMS params = pss_params();
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS_PSS, &params, sizeof params};
    const CK_OBJECT_HANDLE public_key = f.find_one(s, CKO_PUBLIC_KEY, id_sign);
    Bytes data = message;
    REQUIRE(f.p11->C_VerifyInit(s, &mechanism, public_key) == CKR_OK);
    CHECK(f.p11->C_Verify(s, data.data(), static_cast<CK_ULONG>(data.size()), signature.data(),
                          static_cast<CK_ULONG>(signature.size())) == CKR_OK);
    signature[10] ^= 1;
    REQUIRE(f.p11->C_VerifyInit(s, &mechanism, public_key) == CKR_OK);
    CHECK(f.p11->C_Verify(s, data.data(), static_cast<CK_ULONG>(data.size()), signature.data(),
                          static_cast<CK_ULONG>(signature.size())) == CKR_SIGNATURE_INVALID);
}

TEST_CASE("pss=on with a card that refuses P1 04: C_Sign answers CKR_MECHANISM_INVALID, the session goes on",
          "[pss][trace]") {
    Fixture f(pss_card(false, {{"JPKI_PKCS11_PSS", "on"}}));
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    Bytes signature;
    CHECK(sign_pss(f, s, CKM_RSA_PKCS_PSS, key, sha256(bytes_of("x")), signature) == CKR_MECHANISM_INVALID);
    CHECK(pss_apdus(f) == 1);  // the refusal is not sent again with the key selected anew
    const Bytes message = bytes_of("PKCS#1 still works");
    CHECK(openssl_verifies(pki_file("auth-cert.der"), CKM_SHA256_RSA_PKCS, message,
                           f.sign(s, CKM_SHA256_RSA_PKCS, key, message)));
}

TEST_CASE("pss=auto: a proof is remembered across module loads by the per-user cache", "[pss][trace][cache]") {
    TempDir cache;
    const std::map<std::string, std::string> shared = {{"XDG_CACHE_HOME", cache.path().string()}};
    {
        Fixture first(pss_card(true, shared));
        const CK_SESSION_HANDLE s = first.open(auth_slot);
        first.login(s, auth_pin);
        CHECK(pss_apdus(first) == 1);
    }
    Fixture second(pss_card(true, shared));
    CHECK(lists(second, auth_slot, CKM_RSA_PKCS_PSS));  // before any login: the cache knows
    const CK_SESSION_HANDLE s = second.open(auth_slot);
    second.login(s, auth_pin);
    CHECK(pss_apdus(second) == 0);
}
