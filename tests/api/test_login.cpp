// Login (docs/design.md §3 "Login"): PIN format checks before any APDU, the card's answers, the
// final-try guard, login state per PIN, logout, C_SetPIN, and what is not offered (SO, InitPIN).
// Card traffic is read from the virtual card's APDU trace.
#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace apitest;

namespace {

struct BadPin {
    CK_SLOT_ID slot;
    std::string pin;
    CK_RV expected;
};

}  // namespace

TEST_CASE("a badly formatted PIN is refused before any APDU is sent", "[login][trace]") {
    Fixture f;
    const CK_SESSION_HANDLE auth = f.open(auth_slot);
    const CK_SESSION_HANDLE sign = f.open(sign_slot);
    const auto bad = GENERATE(values<BadPin>({
        {auth_slot, "123", CKR_PIN_LEN_RANGE},
        {auth_slot, "12345", CKR_PIN_LEN_RANGE},
        {auth_slot, "", CKR_PIN_LEN_RANGE},
        {auth_slot, "12a4", CKR_PIN_INVALID},
        {auth_slot, "12 4", CKR_PIN_INVALID},
        {sign_slot, "ABC12", CKR_PIN_LEN_RANGE},
        {sign_slot, "ABCDEFGHIJ1234567", CKR_PIN_LEN_RANGE},  // 17
        {sign_slot, "ABC-12", CKR_PIN_INVALID},
        {sign_slot, "ABC 12", CKR_PIN_INVALID},
    }));
    INFO("slot " << bad.slot << " PIN '" << bad.pin << "'");
    const std::size_t before = f.apdus().size();
    const std::uint64_t transmitted = f.readers().transmitted(f.reader());
    CHECK(f.try_login(bad.slot == auth_slot ? auth : sign, bad.pin) == bad.expected);
    CHECK(f.apdus().size() == before);
    CHECK(f.readers().transmitted(f.reader()) == transmitted);
    CHECK(f.card()->tries_left(bad.slot == auth_slot ? Pin::Auth : Pin::Sign) ==
          (bad.slot == auth_slot ? 3 : 5));
}

TEST_CASE("a PIN with a NUL byte in it is refused before any APDU", "[login][trace]") {
    Fixture f;
    const CK_SESSION_HANDLE auth = f.open(auth_slot);
    const std::size_t before = f.apdus().size();
    CK_UTF8CHAR pin[] = {'1', '2', 0, '4'};
    CHECK(f.p11->C_Login(auth, CKU_USER, pin, 4) == CKR_PIN_INVALID);
    CHECK(f.apdus().size() == before);
}

TEST_CASE("the right PINs log in, with one VERIFY each", "[login][trace]") {
    Fixture f;
    const CK_SESSION_HANDLE auth = f.open(auth_slot);
    const CK_SESSION_HANDLE sign = f.open(sign_slot);
    f.login(auth, auth_pin);
    CHECK(count_verify_with_data(f.apdus()) == 1);
    f.login(sign, sign_pin);
    CHECK(count_verify_with_data(f.apdus()) == 2);
    CHECK(f.card()->verified(Pin::Auth));
    CHECK(f.card()->verified(Pin::Sign));
}

TEST_CASE("a lowercase signature password is upper-cased and accepted", "[login]") {
    Fixture f;
    const CK_SESSION_HANDLE sign = f.open(sign_slot);
    f.login(sign, "abc123");
    CHECK(f.find_optional(sign, CKO_PRIVATE_KEY, id_sign).has_value());
    CHECK(f.card()->tries_left(Pin::Sign) == 5);
}

TEST_CASE("a wrong PIN answers CKR_PIN_INCORRECT and lowers the card's counter", "[login]") {
    Fixture f;
    SECTION("auth") {
        const CK_SESSION_HANDLE s = f.open(auth_slot);
        CHECK(f.try_login(s, "4321") == CKR_PIN_INCORRECT);
        CHECK(f.card()->tries_left(Pin::Auth) == 2);
        CHECK((f.token_info(auth_slot).flags & CKF_USER_PIN_COUNT_LOW) != 0);
        CHECK_FALSE(f.find_optional(s, CKO_PRIVATE_KEY, id_auth).has_value());
    }
    SECTION("sign") {
        const CK_SESSION_HANDLE s = f.open(sign_slot);
        CHECK(f.try_login(s, "ABC124") == CKR_PIN_INCORRECT);
        CHECK(f.card()->tries_left(Pin::Sign) == 4);
        CHECK((f.token_info(sign_slot).flags & CKF_USER_PIN_COUNT_LOW) != 0);
        CHECK(f.find(s, {}).size() == 1);  // still only the CA certificate
    }
}

TEST_CASE("a locked PIN answers CKR_PIN_LOCKED without a VERIFY that carries a PIN", "[login][trace]") {
    Fixture f(one_card([](CardConfig& c) {
        c.auth_tries = 0;
        c.sign_tries = 0;
    }));
    for (const auto& [slot, pin] : {std::pair{auth_slot, auth_pin}, std::pair{sign_slot, sign_pin}}) {
        const CK_SESSION_HANDLE s = f.open(slot);
        CHECK(f.try_login(s, pin) == CKR_PIN_LOCKED);
        CHECK((f.token_info(slot).flags & CKF_USER_PIN_LOCKED) != 0);
    }
    CHECK(count_verify_with_data(f.apdus()) == 0);
}

TEST_CASE("final-try guard: with one try left C_Login answers CKR_PIN_LOCKED and sends no PIN", "[login][trace]") {
    Fixture f(one_card([](CardConfig& c) {
        c.auth_tries = 1;
        c.sign_tries = 1;
    }));
    const CK_SESSION_HANDLE auth = f.open(auth_slot);
    const CK_SESSION_HANDLE sign = f.open(sign_slot);
    // Even the right PIN: the module cannot know it is right without spending the try.
    CHECK(f.try_login(auth, auth_pin) == CKR_PIN_LOCKED);
    CHECK(f.try_login(auth, "0000") == CKR_PIN_LOCKED);
    CHECK(f.try_login(sign, sign_pin) == CKR_PIN_LOCKED);
    const auto apdus = f.apdus();
    CHECK(count_verify_with_data(apdus) == 0);
    for (const std::string& line : apdus) CHECK_FALSE(line.starts_with("0020008004"));
    CHECK(f.card()->tries_left(Pin::Auth) == 1);
    CHECK(f.card()->tries_left(Pin::Sign) == 1);
    CHECK((f.token_info(auth_slot).flags & CKF_USER_PIN_FINAL_TRY) != 0);
    CHECK((f.token_info(sign_slot).flags & CKF_USER_PIN_FINAL_TRY) != 0);
    CHECK((f.token_info(auth_slot).flags & CKF_USER_PIN_LOCKED) == 0);
}

TEST_CASE("final-try guard: reached by wrong PINs in this process, the last try is not spent either",
          "[login][trace]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    CHECK(f.try_login(s, "1111") == CKR_PIN_INCORRECT);
    CHECK(f.try_login(s, "2222") == CKR_PIN_INCORRECT);
    CHECK(f.try_login(s, "3333") == CKR_PIN_LOCKED);
    CHECK(f.try_login(s, auth_pin) == CKR_PIN_LOCKED);
    CHECK(f.card()->tries_left(Pin::Auth) == 1);
    CHECK(count_verify_with_data(f.apdus()) == 2);
}

TEST_CASE("JPKI_PKCS11_ALLOW_FINAL_TRY=1 lets C_Login spend the last try", "[login][trace]") {
    Setup setup = one_card([](CardConfig& c) {
        c.auth_tries = 1;
        c.sign_tries = 1;
    });
    setup.env = {{"JPKI_PKCS11_ALLOW_FINAL_TRY", "1"}};
    Fixture f(setup);
    SECTION("right PIN: logged in, counter refilled") {
        const CK_SESSION_HANDLE s = f.open(auth_slot);
        f.login(s, auth_pin);
        CHECK(count_verify_with_data(f.apdus()) == 1);
        CHECK(f.card()->tries_left(Pin::Auth) == 3);
        CHECK((f.token_info(auth_slot).flags & (CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_COUNT_LOW)) == 0);
    }
    SECTION("wrong PIN: CKR_PIN_LOCKED and the PIN is locked") {
        const CK_SESSION_HANDLE s = f.open(sign_slot);
        CHECK(f.try_login(s, "WRONG1") == CKR_PIN_LOCKED);
        CHECK(count_verify_with_data(f.apdus()) == 1);
        CHECK(f.card()->tries_left(Pin::Sign) == 0);
        CHECK((f.token_info(sign_slot).flags & CKF_USER_PIN_LOCKED) != 0);
        CHECK(f.try_login(s, sign_pin) == CKR_PIN_LOCKED);
        CHECK(count_verify_with_data(f.apdus()) == 1);
    }
}

TEST_CASE("C_Login twice answers CKR_USER_ALREADY_LOGGED_IN without another VERIFY", "[login][trace]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    CHECK(f.try_login(s, auth_pin) == CKR_USER_ALREADY_LOGGED_IN);
    // Login is per token: another session of the same token is logged in too.
    const CK_SESSION_HANDLE other = f.open(auth_slot);
    CHECK(f.try_login(other, auth_pin) == CKR_USER_ALREADY_LOGGED_IN);
    CHECK(f.find_optional(other, CKO_PRIVATE_KEY, id_auth).has_value());
    CHECK(count_verify_with_data(f.apdus()) == 1);
}

TEST_CASE("C_Login as CKU_SO answers CKR_USER_TYPE_INVALID", "[login][trace]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot, true);
    const std::size_t before = f.apdus().size();
    CHECK(f.try_login(s, auth_pin, CKU_SO) == CKR_USER_TYPE_INVALID);
    CHECK(f.try_login(s, auth_pin, 42) == CKR_USER_TYPE_INVALID);
    CHECK(count_verify_with_data(f.apdus()) == 0);
    CHECK(f.apdus().size() == before);
}

TEST_CASE("C_Login CKU_CONTEXT_SPECIFIC without a pending always-authenticate signature is refused",
          "[login]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    CHECK(f.try_login(s, auth_pin, CKU_CONTEXT_SPECIFIC) == CKR_OPERATION_NOT_INITIALIZED);
}

TEST_CASE("C_Logout ends the login, a second C_Logout answers CKR_USER_NOT_LOGGED_IN", "[login]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    CHECK(f.p11->C_Logout(s) == CKR_USER_NOT_LOGGED_IN);
    f.login(s, auth_pin);
    REQUIRE(f.p11->C_Logout(s) == CKR_OK);
    CHECK(f.p11->C_Logout(s) == CKR_USER_NOT_LOGGED_IN);
    CHECK_FALSE(f.find_optional(s, CKO_PRIVATE_KEY, id_auth).has_value());
    CK_SESSION_INFO info{};
    REQUIRE(f.p11->C_GetSessionInfo(s, &info) == CKR_OK);
    CHECK(info.state == CKS_RO_PUBLIC_SESSION);
    // A fresh login works (and sends the PIN again).
    f.login(s, auth_pin);
    CHECK(count_verify_with_data(f.apdus()) == 2);
}

TEST_CASE("the two PINs are logged in independently", "[login]") {
    Fixture f;
    const CK_SESSION_HANDLE auth = f.open(auth_slot);
    const CK_SESSION_HANDLE sign = f.open(sign_slot);
    f.login(auth, auth_pin);
    CK_SESSION_INFO info{};
    REQUIRE(f.p11->C_GetSessionInfo(sign, &info) == CKR_OK);
    CHECK(info.state == CKS_RO_PUBLIC_SESSION);
    CHECK(f.p11->C_Logout(sign) == CKR_USER_NOT_LOGGED_IN);
    f.login(sign, sign_pin);
    REQUIRE(f.p11->C_GetSessionInfo(auth, &info) == CKR_OK);
    CHECK(info.state == CKS_RO_USER_FUNCTIONS);
    // Logging out ends both: the card is reset (test_faults.cpp, issue 7 item 3).
}

TEST_CASE("closing the last session of a token logs it out", "[login]") {
    Fixture f;
    const CK_SESSION_HANDLE first = f.open(auth_slot);
    const CK_SESSION_HANDLE second = f.open(auth_slot);
    const CK_SESSION_HANDLE sign = f.open(sign_slot);
    f.login(first, auth_pin);
    f.login(sign, sign_pin);
    REQUIRE(f.p11->C_CloseSession(first) == CKR_OK);
    CK_SESSION_INFO info{};
    REQUIRE(f.p11->C_GetSessionInfo(second, &info) == CKR_OK);
    CHECK(info.state == CKS_RO_USER_FUNCTIONS);  // one session of the token is left
    REQUIRE(f.p11->C_CloseSession(second) == CKR_OK);
    const CK_SESSION_HANDLE third = f.open(auth_slot);
    REQUIRE(f.p11->C_GetSessionInfo(third, &info) == CKR_OK);
    CHECK(info.state == CKS_RO_PUBLIC_SESSION);
    CHECK_FALSE(f.find_optional(third, CKO_PRIVATE_KEY, id_auth).has_value());
    // The logout reset the card, so the sign token's login ended with it (issue 7 item 3).
    REQUIRE(f.p11->C_GetSessionInfo(sign, &info) == CKR_OK);
    CHECK(info.state == CKS_RO_PUBLIC_SESSION);
}

TEST_CASE("C_CloseAllSessions closes the slot's sessions and logs its token out", "[login]") {
    Fixture f;
    const CK_SESSION_HANDLE a = f.open(auth_slot);
    const CK_SESSION_HANDLE b = f.open(auth_slot);
    const CK_SESSION_HANDLE sign = f.open(sign_slot);
    f.login(a, auth_pin);
    REQUIRE(f.p11->C_CloseAllSessions(auth_slot) == CKR_OK);
    CK_SESSION_INFO info{};
    CHECK(f.p11->C_GetSessionInfo(a, &info) == CKR_SESSION_HANDLE_INVALID);
    CHECK(f.p11->C_GetSessionInfo(b, &info) == CKR_SESSION_HANDLE_INVALID);
    CHECK(f.p11->C_GetSessionInfo(sign, &info) == CKR_OK);
    const CK_SESSION_HANDLE c = f.open(auth_slot);
    REQUIRE(f.p11->C_GetSessionInfo(c, &info) == CKR_OK);
    CHECK(info.state == CKS_RO_PUBLIC_SESSION);
}

TEST_CASE("C_SetPIN changes both PINs in a read-write session, the new PIN then logs in", "[login][setpin]") {
    Fixture f;
    struct Case {
        CK_SLOT_ID slot;
        std::string old_pin, new_pin;
        Pin which;
    };
    for (const Case& c : {Case{auth_slot, auth_pin, "9876", Pin::Auth}, Case{sign_slot, sign_pin, "NEWPASS42", Pin::Sign}}) {
        INFO("slot " << c.slot);
        const CK_SESSION_HANDLE s = f.open(c.slot, true);
        Bytes old_pin = bytes_of(c.old_pin), new_pin = bytes_of(c.new_pin);
        REQUIRE(f.p11->C_SetPIN(s, old_pin.data(), static_cast<CK_ULONG>(old_pin.size()), new_pin.data(),
                                static_cast<CK_ULONG>(new_pin.size())) == CKR_OK);
        // The old PIN went out once (VERIFY), the new one once (CHANGE REFERENCE DATA).
        REQUIRE(f.p11->C_Logout(s) == CKR_OK);
        CHECK(f.try_login(s, c.old_pin) == CKR_PIN_INCORRECT);
        f.login(s, c.new_pin);
        CHECK(f.card()->tries_left(c.which) == (c.which == Pin::Auth ? 3 : 5));
    }
    const auto apdus = f.apdus();
    CHECK(std::count_if(apdus.begin(), apdus.end(), [](const std::string& l) { return l.starts_with("00240180"); }) == 2);
}

TEST_CASE("C_SetPIN with a lowercase new signature password stores it upper-cased", "[login][setpin]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(sign_slot, true);
    Bytes old_pin = bytes_of("abc123"), new_pin = bytes_of("newpass42");
    REQUIRE(f.p11->C_SetPIN(s, old_pin.data(), 6, new_pin.data(), 9) == CKR_OK);
    REQUIRE(f.p11->C_Logout(s) == CKR_OK);
    f.login(s, "NEWPASS42");
}

TEST_CASE("C_SetPIN in a read-only session answers CKR_SESSION_READ_ONLY without card traffic", "[login][setpin]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    const std::size_t before = f.apdus().size();
    Bytes old_pin = bytes_of(auth_pin), new_pin = bytes_of("9876");
    CHECK(f.p11->C_SetPIN(s, old_pin.data(), 4, new_pin.data(), 4) == CKR_SESSION_READ_ONLY);
    CHECK(f.apdus().size() == before);
    f.login(s, auth_pin);  // unchanged
}

TEST_CASE("C_SetPIN checks the format of both PINs before any APDU", "[login][setpin][trace]") {
    Fixture f;
    const CK_SESSION_HANDLE auth = f.open(auth_slot, true);
    const CK_SESSION_HANDLE sign = f.open(sign_slot, true);
    struct Case {
        CK_SESSION_HANDLE session;
        std::string old_pin, new_pin;
        CK_RV expected;
    };
    for (const Case& c : {Case{auth, "123", "9876", CKR_PIN_LEN_RANGE}, Case{auth, auth_pin, "98765", CKR_PIN_LEN_RANGE},
                          Case{auth, "12a4", "9876", CKR_PIN_INVALID}, Case{auth, auth_pin, "98x6", CKR_PIN_INVALID},
                          Case{sign, "ABC12", "NEWPASS", CKR_PIN_LEN_RANGE},
                          Case{sign, sign_pin, "ABCDEFGHIJ1234567", CKR_PIN_LEN_RANGE},
                          Case{sign, "ABC-12", "NEWPASS", CKR_PIN_INVALID}, Case{sign, sign_pin, "NEW-PASS", CKR_PIN_INVALID}}) {
        INFO("old '" << c.old_pin << "' new '" << c.new_pin << "'");
        const std::size_t before = f.apdus().size();
        Bytes old_pin = bytes_of(c.old_pin), new_pin = bytes_of(c.new_pin);
        CHECK(f.p11->C_SetPIN(c.session, old_pin.data(), static_cast<CK_ULONG>(old_pin.size()), new_pin.data(),
                              static_cast<CK_ULONG>(new_pin.size())) == c.expected);
        CHECK(f.apdus().size() == before);
    }
    CHECK(f.card()->tries_left(Pin::Auth) == 3);
    CHECK(f.card()->tries_left(Pin::Sign) == 5);
}

TEST_CASE("C_SetPIN with a wrong old PIN answers CKR_PIN_INCORRECT and changes nothing", "[login][setpin]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot, true);
    Bytes old_pin = bytes_of("4321"), new_pin = bytes_of("9876");
    CHECK(f.p11->C_SetPIN(s, old_pin.data(), 4, new_pin.data(), 4) == CKR_PIN_INCORRECT);
    CHECK(f.card()->tries_left(Pin::Auth) == 2);
    const auto apdus = f.apdus();
    CHECK(std::none_of(apdus.begin(), apdus.end(), [](const std::string& l) { return l.starts_with("00240180"); }));
    f.login(s, auth_pin);
}

TEST_CASE("C_SetPIN with one try left is refused by the final-try guard without sending a PIN",
          "[login][setpin][trace]") {
    Fixture f(one_card([](CardConfig& c) { c.auth_tries = 1; }));
    const CK_SESSION_HANDLE s = f.open(auth_slot, true);
    Bytes old_pin = bytes_of(auth_pin), new_pin = bytes_of("9876");
    CHECK(f.p11->C_SetPIN(s, old_pin.data(), 4, new_pin.data(), 4) == CKR_PIN_LOCKED);
    CHECK(count_pin_commands(f.apdus()) == 0);
}

TEST_CASE("C_InitPIN answers CKR_FUNCTION_NOT_SUPPORTED", "[login]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot, true);
    CK_UTF8CHAR pin[] = {'1', '2', '3', '4'};
    CHECK(f.p11->C_InitPIN(s, pin, 4) == CKR_FUNCTION_NOT_SUPPORTED);
}
