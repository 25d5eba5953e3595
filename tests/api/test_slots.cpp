// Slots and tokens (docs/design.md §3 "Slots", "Tokens", "Which slots an application sees"):
// two slots per reader with stable IDs, token info and flags, the under-15 card, the slot
// profile, and the two-call convention of C_GetSlotList / C_GetMechanismList.
#include "fixture.hpp"

#include <catch2/catch.hpp>

using namespace apitest;

namespace {

constexpr CK_FLAGS kBaseFlags =
    CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED | CKF_WRITE_PROTECTED;
constexpr CK_FLAGS kRetryFlags = CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED;

Setup two_readers(std::optional<CardConfig> second = CardConfig{}) {
    Setup setup;
    setup.readers = {CardConfig{}, second};
    return setup;
}

}  // namespace

TEST_CASE("one reader with a card gives slots 0 (auth) and 1 (sign), both with a token", "[slots]") {
    Fixture f;
    CHECK(f.slot_list(false) == std::vector<CK_SLOT_ID>{0, 1});
    CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{0, 1});
    for (const CK_SLOT_ID slot : {auth_slot, sign_slot}) {
        const CK_SLOT_INFO info = f.slot_info(slot);
        CHECK(text(info.slotDescription) == f.reader(0));
        CHECK(text(info.manufacturerID) == "jpki-pkcs11");
        CHECK((info.flags & CKF_TOKEN_PRESENT) != 0);
        CHECK((info.flags & CKF_REMOVABLE_DEVICE) != 0);
        CHECK((info.flags & CKF_HW_SLOT) != 0);
    }
}

TEST_CASE("two readers give slots 0,1 and 2,3, and the IDs stay stable", "[slots]") {
    Fixture f(two_readers());
    CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{0, 1, 2, 3});
    CHECK(text(f.slot_info(2).slotDescription) == f.reader(1));
    CHECK(text(f.slot_info(3).slotDescription) == f.reader(1));
    CHECK(text(f.slot_info(1).slotDescription) == f.reader(0));
    // The first reader's card leaves and comes back: nobody's slot ID moves.
    f.remove(0);
    CHECK(f.slot_list(false) == std::vector<CK_SLOT_ID>{0, 1, 2, 3});
    CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{2, 3});
    f.insert(0, CardConfig{});
    CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{0, 1, 2, 3});
    CHECK(text(f.slot_info(2).slotDescription) == f.reader(1));
    CHECK(text(f.token_info(2).label) == "JPKI (User Authentication PIN)");
}

TEST_CASE("a reader without a card keeps its slots with CKF_TOKEN_PRESENT clear", "[slots]") {
    Fixture f(two_readers(std::nullopt));
    CHECK(f.slot_list(false) == std::vector<CK_SLOT_ID>{0, 1, 2, 3});
    CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{0, 1});
    for (const CK_SLOT_ID slot : {2, 3}) {
        const CK_SLOT_INFO info = f.slot_info(slot);
        CHECK((info.flags & CKF_TOKEN_PRESENT) == 0);
        CHECK(text(info.slotDescription) == f.reader(1));
        CK_TOKEN_INFO token;
        CHECK(f.p11->C_GetTokenInfo(slot, &token) == CKR_TOKEN_NOT_PRESENT);
        CK_SESSION_HANDLE session = 0;
        CHECK(f.p11->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &session) == CKR_TOKEN_NOT_PRESENT);
    }
}

TEST_CASE("slot IDs are usable right after C_Initialize, before any C_GetSlotList", "[slots]") {
    // Applications that know the slot (a PKCS#11 URI, p11-kit, a saved setting) may skip it.
    SECTION("C_GetTokenInfo") {
        Fixture f;
        CHECK(text(f.token_info(sign_slot).label) == "JPKI (Digital Signature PIN)");
    }
    SECTION("C_OpenSession") {
        Fixture f;
        f.login(f.open(auth_slot), auth_pin);
    }
    SECTION("C_GetMechanismList") {
        Fixture f;
        CHECK(f.mechanism_list(sign_slot).size() == 6);
    }
    SECTION("C_GetSlotInfo") {
        Fixture f;
        CHECK((f.slot_info(auth_slot).flags & CKF_TOKEN_PRESENT) != 0);
    }
}

TEST_CASE("a card inserted after the last slot list is seen by C_GetTokenInfo, C_GetMechanismList, C_OpenSession",
          "[slots]") {
    Setup setup;
    setup.readers = {std::nullopt};
    Fixture f(setup);
    CHECK(f.slot_list(true).empty());
    f.insert(0, CardConfig{});
    CHECK(f.mechanism_list(auth_slot).size() == 6);
    CHECK(text(f.token_info(auth_slot).label) == "JPKI (User Authentication PIN)");
    f.login(f.open(sign_slot), sign_pin);
}

TEST_CASE("no reader at all gives an empty slot list", "[slots]") {
    Setup setup;
    setup.readers = {};
    Fixture f(setup);
    CHECK(f.slot_list(false).empty());
    CHECK(f.slot_list(true).empty());
}

TEST_CASE("C_GetSlotList follows the two-call convention", "[slots][two-call]") {
    Fixture f(two_readers());
    CK_ULONG count = 0;
    REQUIRE(f.p11->C_GetSlotList(CK_TRUE, nullptr, &count) == CKR_OK);
    CHECK(count == 4);
    CK_SLOT_ID slots[4] = {99, 99, 99, 99};
    count = 1;
    CHECK(f.p11->C_GetSlotList(CK_TRUE, slots, &count) == CKR_BUFFER_TOO_SMALL);
    CHECK(count == 4);
    count = 4;
    REQUIRE(f.p11->C_GetSlotList(CK_TRUE, slots, &count) == CKR_OK);
    CHECK(count == 4);
    CHECK(std::vector<CK_SLOT_ID>(slots, slots + 4) == std::vector<CK_SLOT_ID>{0, 1, 2, 3});
}

TEST_CASE("the token info shows the JPKI labels, J-LIS, the model and the auth certificate serial", "[tokens]") {
    Fixture f;
    const std::string serial = certificate_facts(pki_file("auth-cert.der")).serial_hex;
    const CK_TOKEN_INFO auth = f.token_info(auth_slot);
    const CK_TOKEN_INFO sign = f.token_info(sign_slot);
    CHECK(text(auth.label) == "JPKI (User Authentication PIN)");
    CHECK(text(sign.label) == "JPKI (Digital Signature PIN)");
    for (const CK_TOKEN_INFO* info : {&auth, &sign}) {
        CHECK(text(info->manufacturerID) == "J-LIS");
        CHECK(text(info->model) == "JPKIAPICCTOKEN2");
        CHECK(text(info->serialNumber) == serial.substr(serial.size() > 16 ? serial.size() - 16 : 0));
        CHECK((info->flags & kBaseFlags) == kBaseFlags);
        CHECK((info->flags & kRetryFlags) == 0);
        CHECK((info->flags & CKF_PROTECTED_AUTHENTICATION_PATH) == 0);
    }
    CHECK(auth.ulMinPinLen == 4);
    CHECK(auth.ulMaxPinLen == 4);
    CHECK(sign.ulMinPinLen == 6);
    CHECK(sign.ulMaxPinLen == 16);
}

TEST_CASE("wrong PINs set CKF_USER_PIN_COUNT_LOW, then CKF_USER_PIN_FINAL_TRY at one try left", "[tokens][login]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    CHECK((f.token_info(auth_slot).flags & kRetryFlags) == 0);
    REQUIRE(f.try_login(s, "9999") == CKR_PIN_INCORRECT);
    CHECK((f.token_info(auth_slot).flags & kRetryFlags) == CKF_USER_PIN_COUNT_LOW);
    REQUIRE(f.try_login(s, "9998") == CKR_PIN_INCORRECT);
    CHECK((f.token_info(auth_slot).flags & kRetryFlags) == (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY));
    // The other PIN's flags are untouched.
    CHECK((f.token_info(sign_slot).flags & kRetryFlags) == 0);
}

TEST_CASE("a locked PIN shows CKF_USER_PIN_LOCKED", "[tokens][login]") {
    Fixture f(one_card([](CardConfig& c) { c.auth_tries = 0; }));
    const CK_FLAGS flags = f.token_info(auth_slot).flags;
    CHECK((flags & CKF_USER_PIN_LOCKED) != 0);
    CHECK((flags & CKF_USER_PIN_FINAL_TRY) == 0);
    CHECK((f.token_info(sign_slot).flags & kRetryFlags) == 0);
}

TEST_CASE("a good login after a wrong PIN clears the retry flags", "[tokens][login]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(sign_slot);
    REQUIRE(f.try_login(s, "WRONG1") == CKR_PIN_INCORRECT);
    CHECK((f.token_info(sign_slot).flags & kRetryFlags) == CKF_USER_PIN_COUNT_LOW);
    f.login(s, sign_pin);
    CHECK((f.token_info(sign_slot).flags & kRetryFlags) == 0);
}

TEST_CASE("token retry flags come from the card's counter when the card starts low", "[tokens]") {
    Fixture f(one_card([](CardConfig& c) {
        c.auth_tries = 1;
        c.sign_tries = 3;
    }));
    CHECK((f.token_info(auth_slot).flags & kRetryFlags) == (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY));
    CHECK((f.token_info(sign_slot).flags & kRetryFlags) == CKF_USER_PIN_COUNT_LOW);
    // Reading the flags spent no try.
    CHECK(f.card()->tries_left(Pin::Auth) == 1);
    CHECK(f.card()->tries_left(Pin::Sign) == 3);
}

TEST_CASE("a card without a signing certificate shows an empty sign token that needs no login", "[tokens]") {
    Fixture f(one_card([](CardConfig& c) { c.sign_cert = false; }));
    CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{0, 1});
    // The auth slot is as usual.
    const CK_TOKEN_INFO auth = f.token_info(auth_slot);
    CHECK(text(auth.label) == "JPKI (User Authentication PIN)");
    CHECK((auth.flags & kBaseFlags) == kBaseFlags);
    const CK_SESSION_HANDLE as = f.open(auth_slot);
    f.login(as, auth_pin);
    CHECK(f.find_optional(as, CKO_PRIVATE_KEY, id_auth).has_value());

    const CK_TOKEN_INFO sign = f.token_info(sign_slot);
    CHECK(text(sign.label) == "JPKI (no signature certificate)");
    CHECK((sign.flags & CKF_LOGIN_REQUIRED) == 0);
    CHECK((sign.flags & CKF_TOKEN_INITIALIZED) != 0);
    CHECK(text(sign.serialNumber) == text(auth.serialNumber));
    CHECK(f.mechanism_list(sign_slot).empty());
    CK_MECHANISM_INFO info;
    CHECK(f.p11->C_GetMechanismInfo(sign_slot, CKM_RSA_PKCS, &info) == CKR_MECHANISM_INVALID);
    const CK_SESSION_HANDLE ss = f.open(sign_slot);
    CHECK(f.find(ss, {}).empty());
    CHECK(f.try_login(ss, sign_pin) == CKR_USER_PIN_NOT_INITIALIZED);
}

TEST_CASE("C_GetMechanismList lists the six signing mechanisms, two-call convention included", "[tokens][two-call]") {
    Fixture f;
    const std::vector<CK_MECHANISM_TYPE> expected = {CKM_RSA_PKCS,        CKM_SHA1_RSA_PKCS,   CKM_SHA224_RSA_PKCS,
                                                     CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS};
    for (const CK_SLOT_ID slot : {auth_slot, sign_slot}) {
        CK_ULONG count = 0;
        REQUIRE(f.p11->C_GetMechanismList(slot, nullptr, &count) == CKR_OK);
        CHECK(count == 6);
        CK_MECHANISM_TYPE mechanisms[6] = {};
        count = 2;
        CHECK(f.p11->C_GetMechanismList(slot, mechanisms, &count) == CKR_BUFFER_TOO_SMALL);
        CHECK(count == 6);
        REQUIRE(f.p11->C_GetMechanismList(slot, mechanisms, &count) == CKR_OK);
        CHECK(count == 6);
        CHECK(std::vector<CK_MECHANISM_TYPE>(mechanisms, mechanisms + 6) == expected);
    }
}

TEST_CASE("C_GetMechanismInfo reports 2048-bit hardware signing, other mechanisms are invalid", "[tokens]") {
    Fixture f;
    for (const CK_MECHANISM_TYPE mechanism : f.mechanism_list(auth_slot)) {
        CK_MECHANISM_INFO info{};
        REQUIRE(f.p11->C_GetMechanismInfo(auth_slot, mechanism, &info) == CKR_OK);
        CHECK(info.ulMinKeySize == 2048);
        CHECK(info.ulMaxKeySize == 2048);
        CHECK(info.flags == (CKF_HW | CKF_SIGN));
    }
    CK_MECHANISM_INFO info{};
    CHECK(f.p11->C_GetMechanismInfo(auth_slot, CKM_RSA_X_509, &info) == CKR_MECHANISM_INVALID);
    CHECK(f.p11->C_GetMechanismInfo(sign_slot, CKM_SHA256_RSA_PKCS_PSS, &info) == CKR_MECHANISM_INVALID);
    CHECK(f.p11->C_GetMechanismInfo(auth_slot, CKM_SHA256, &info) == CKR_MECHANISM_INVALID);
}

TEST_CASE("JPKI_PKCS11_SLOTS=auth shows only the even (auth) slots", "[profile]") {
    Setup setup = two_readers();
    setup.env = {{"JPKI_PKCS11_SLOTS", "auth"}};
    Fixture f(setup);
    CHECK(f.slot_list(false) == std::vector<CK_SLOT_ID>{0, 2});
    CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{0, 2});
    CK_SLOT_INFO info;
    CHECK(f.p11->C_GetSlotInfo(1, &info) == CKR_SLOT_ID_INVALID);
    CK_SESSION_HANDLE session = 0;
    CHECK(f.p11->C_OpenSession(3, CKF_SERIAL_SESSION, nullptr, nullptr, &session) == CKR_SLOT_ID_INVALID);
}

TEST_CASE("JPKI_PKCS11_SLOTS=sign shows only the odd (sign) slots", "[profile]") {
    Setup setup = two_readers();
    setup.env = {{"JPKI_PKCS11_SLOTS", "sign"}};
    Fixture f(setup);
    CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{1, 3});
    CK_TOKEN_INFO info;
    CHECK(f.p11->C_GetTokenInfo(0, &info) == CKR_SLOT_ID_INVALID);
    CHECK(text(f.token_info(1).label) == "JPKI (Digital Signature PIN)");
}

TEST_CASE("JPKI_PKCS11_SLOTS=both and the default for this process show every slot", "[profile]") {
    SECTION("both") {
        Setup setup;
        setup.env = {{"JPKI_PKCS11_SLOTS", "both"}};
        Fixture f(setup);
        CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{0, 1});
    }
    SECTION("default (process api_tests)") {
        Fixture f;
        CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{0, 1});
    }
}

TEST_CASE("C_Initialize pReserved slots=sign overrides the environment", "[profile]") {
    Setup setup;
    setup.env = {{"JPKI_PKCS11_SLOTS", "auth"}};
    setup.reserved = "slots=sign";
    Fixture f(setup);
    CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{1});
}

TEST_CASE("a bad slot profile makes C_Initialize fail with CKR_ARGUMENTS_BAD", "[profile]") {
    SECTION("environment") {
        Setup setup;
        setup.env = {{"JPKI_PKCS11_SLOTS", "everything"}};
        setup.initialize = false;
        Fixture f(setup);
        CHECK(f.initialize() == CKR_ARGUMENTS_BAD);
        CK_INFO info;
        CHECK(f.p11->C_GetInfo(&info) == CKR_CRYPTOKI_NOT_INITIALIZED);
    }
    SECTION("pReserved") {
        Setup setup;
        setup.reserved = "slots=neither";
        setup.initialize = false;
        Fixture f(setup);
        CHECK(f.initialize() == CKR_ARGUMENTS_BAD);
    }
    SECTION("unknown setting in pReserved") {
        Setup setup;
        setup.reserved = "slot=auth";
        setup.initialize = false;
        Fixture f(setup);
        CHECK(f.initialize() == CKR_ARGUMENTS_BAD);
    }
}
