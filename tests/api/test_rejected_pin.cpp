// A PIN the card has just rejected, submitted again (docs/design.md §3 "Login", repeated rejected
// PIN): applications do it by themselves (NSS re-asks its password callback after
// CKR_PIN_INCORRECT, and LibreOffice's PDF export and pdfsig -kpw answer with the same password).
// While the card's counter still reads what the card answered to that PIN, the module refuses it
// without a VERIFY that carries a PIN: CKR_PIN_INCORRECT first, CKR_PIN_LOCKED after that. A
// different PIN, a counter another program moved, or a right PIN in between: sent as usual.
#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <string>

using namespace apitest;

namespace {

// Another program on the same card spends a try: SELECT AP, SELECT the PIN EF, VERIFY `pin`,
// straight to the virtual card (its trace shows the VERIFY too).
void other_program_verifies(Fixture& f, Pin which, const std::string& pin) {
    const Bytes select_ap{0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01};
    const std::uint8_t ef_low = which == Pin::Auth ? 0x18 : 0x1B;
    const Bytes select_ef{0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, ef_low};
    Bytes verify{0x00, 0x20, 0x00, 0x80, static_cast<std::uint8_t>(pin.size())};
    verify.insert(verify.end(), pin.begin(), pin.end());
    for (const Bytes& apdu : {select_ap, select_ef, verify}) static_cast<void>(f.card()->process(apdu));
}

}  // namespace

TEST_CASE("the same wrong PIN twice: the second is refused without a VERIFY, one try spent", "[login][trace]") {
    Fixture f;
    SECTION("sign") {
        const CK_SESSION_HANDLE s = f.open(sign_slot);
        CHECK(f.try_login(s, "ABC124") == CKR_PIN_INCORRECT);
        CHECK(f.try_login(s, "ABC124") == CKR_PIN_INCORRECT);
        // A program that keeps answering by itself is stopped: NSS ends its loop on this one.
        CHECK(f.try_login(s, "ABC124") == CKR_PIN_LOCKED);
        CHECK(f.try_login(s, "abc124") == CKR_PIN_LOCKED);  // the same password, as VERIFY sends it
        CHECK(count_verify_with_data(f.apdus()) == 1);
        CHECK(f.card()->tries_left(Pin::Sign) == 4);
        // The flags tell the truth: 4 tries left, not locked.
        const CK_FLAGS flags = f.token_info(sign_slot).flags;
        CHECK((flags & CKF_USER_PIN_COUNT_LOW) != 0);
        CHECK((flags & (CKF_USER_PIN_LOCKED | CKF_USER_PIN_FINAL_TRY)) == 0);
        // The right one still logs in.
        f.login(s, sign_pin);
        CHECK(count_verify_with_data(f.apdus()) == 2);
        CHECK(f.card()->tries_left(Pin::Sign) == 5);
    }
    SECTION("auth") {
        const CK_SESSION_HANDLE s = f.open(auth_slot);
        CHECK(f.try_login(s, "4321") == CKR_PIN_INCORRECT);
        CHECK(f.try_login(s, "4321") == CKR_PIN_INCORRECT);
        CHECK(count_verify_with_data(f.apdus()) == 1);
        CHECK(f.card()->tries_left(Pin::Auth) == 2);
        f.login(s, auth_pin);
        CHECK(f.card()->tries_left(Pin::Auth) == 3);
    }
}

TEST_CASE("a different wrong PIN is sent, and becomes the one remembered", "[login][trace]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(sign_slot);
    CHECK(f.try_login(s, "ABC124") == CKR_PIN_INCORRECT);
    CHECK(f.try_login(s, "ABC125") == CKR_PIN_INCORRECT);
    CHECK(count_verify_with_data(f.apdus()) == 2);
    CHECK(f.card()->tries_left(Pin::Sign) == 3);
    CHECK(f.try_login(s, "ABC125") == CKR_PIN_INCORRECT);
    CHECK(count_verify_with_data(f.apdus()) == 2);
    // The earlier one is forgotten (the counter moved since the card rejected it): sent.
    CHECK(f.try_login(s, "ABC124") == CKR_PIN_INCORRECT);
    CHECK(count_verify_with_data(f.apdus()) == 3);
    CHECK(f.card()->tries_left(Pin::Sign) == 2);
}

TEST_CASE("after another program moved the counter the same PIN is sent again", "[login][trace]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(sign_slot);
    CHECK(f.try_login(s, "ABC124") == CKR_PIN_INCORRECT);
    SECTION("another program's wrong try") {
        other_program_verifies(f, Pin::Sign, "ZZZ999");
        REQUIRE(f.card()->tries_left(Pin::Sign) == 3);
        CHECK(f.try_login(s, "ABC124") == CKR_PIN_INCORRECT);
        CHECK(count_verify_with_data(f.apdus()) == 3);  // ours, the other program's, ours again
        CHECK(f.card()->tries_left(Pin::Sign) == 2);
    }
    SECTION("another program's right PIN refilled it") {
        other_program_verifies(f, Pin::Sign, sign_pin);
        REQUIRE(f.card()->tries_left(Pin::Sign) == 5);
        f.reset_by_other_program();  // and ended its login, as our module does
        CHECK(f.try_login(s, "ABC124") == CKR_PIN_INCORRECT);
        CHECK(count_verify_with_data(f.apdus()) == 3);
        CHECK(f.card()->tries_left(Pin::Sign) == 4);
    }
    SECTION("a card reset by another program, counter unchanged") {
        f.reset_by_other_program();
        CHECK(f.try_login(s, "ABC124") == CKR_PIN_INCORRECT);
        CHECK(count_verify_with_data(f.apdus()) == 2);
        CHECK(f.card()->tries_left(Pin::Sign) == 3);
    }
}

TEST_CASE("the two PINs' rejected PINs are remembered independently", "[login][trace]") {
    Fixture f;
    const CK_SESSION_HANDLE auth = f.open(auth_slot);
    const CK_SESSION_HANDLE sign = f.open(sign_slot);
    CHECK(f.try_login(auth, "4321") == CKR_PIN_INCORRECT);
    CHECK(f.try_login(sign, "432100") == CKR_PIN_INCORRECT);
    CHECK(count_verify_with_data(f.apdus()) == 2);
    CHECK(f.try_login(auth, "4321") == CKR_PIN_INCORRECT);
    CHECK(f.try_login(sign, "432100") == CKR_PIN_INCORRECT);
    CHECK(count_verify_with_data(f.apdus()) == 2);
    CHECK(f.card()->tries_left(Pin::Auth) == 2);
    CHECK(f.card()->tries_left(Pin::Sign) == 4);
    // A login of one PIN forgets nothing of the other's.
    f.login(auth, auth_pin);
    CHECK(f.try_login(sign, "432100") == CKR_PIN_LOCKED);
    CHECK(count_verify_with_data(f.apdus()) == 3);
    CHECK(f.card()->tries_left(Pin::Sign) == 4);
}

TEST_CASE("a successful login forgets the rejected PIN", "[login][trace]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(sign_slot);
    CHECK(f.try_login(s, "ABC124") == CKR_PIN_INCORRECT);
    f.login(s, sign_pin);
    REQUIRE(f.p11->C_Logout(s) == CKR_OK);
    // Counter full again; the same wrong PIN later is a new mistake the card must judge.
    CHECK(f.try_login(s, "ABC124") == CKR_PIN_INCORRECT);
    CHECK(count_verify_with_data(f.apdus()) == 3);
    CHECK(f.card()->tries_left(Pin::Sign) == 4);
}

TEST_CASE("C_Login(CKU_CONTEXT_SPECIFIC): the same wrong PIN again is refused without a VERIFY",
          "[login][sign][trace]") {
    Setup setup;
    setup.env = {{"JPKI_PKCS11_ALWAYS_AUTH", "1"}};
    Fixture f(setup);
    const CK_SESSION_HANDLE s = f.open(sign_slot);
    f.login(s, sign_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_sign);
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    REQUIRE(f.p11->C_SignInit(s, &mechanism, key) == CKR_OK);
    CHECK(f.try_login(s, "WRONG99", CKU_CONTEXT_SPECIFIC) == CKR_PIN_INCORRECT);
    CHECK(f.try_login(s, "WRONG99", CKU_CONTEXT_SPECIFIC) == CKR_PIN_INCORRECT);
    CHECK(f.try_login(s, "WRONG99", CKU_CONTEXT_SPECIFIC) == CKR_PIN_LOCKED);
    CHECK(count_verify_with_data(f.apdus()) == 2);  // the login and one wrong context PIN
    CHECK(f.card()->tries_left(Pin::Sign) == 4);
    // The right one still completes the pending signature.
    REQUIRE(f.try_login(s, sign_pin, CKU_CONTEXT_SPECIFIC) == CKR_OK);
    Bytes data = bytes_of("after a repeated wrong context PIN");
    Bytes signature(256);
    CK_ULONG length = 256;
    CHECK(f.p11->C_Sign(s, data.data(), static_cast<CK_ULONG>(data.size()), signature.data(), &length) == CKR_OK);
    CHECK(f.card()->tries_left(Pin::Sign) == 5);
}

TEST_CASE("C_SetPIN: the same wrong old PIN again is refused without a VERIFY", "[login][setpin][trace]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(sign_slot, true);
    const std::string wrong = "ABC124", next = "NEW123";
    const auto set_pin = [&] {
        return f.p11->C_SetPIN(s, reinterpret_cast<CK_UTF8CHAR_PTR>(const_cast<char*>(wrong.data())),
                               static_cast<CK_ULONG>(wrong.size()),
                               reinterpret_cast<CK_UTF8CHAR_PTR>(const_cast<char*>(next.data())),
                               static_cast<CK_ULONG>(next.size()));
    };
    CHECK(set_pin() == CKR_PIN_INCORRECT);
    CHECK(f.try_login(s, wrong) == CKR_PIN_INCORRECT);  // the same PIN, through C_Login
    CHECK(count_pin_commands(f.apdus()) == 1);
    CHECK(f.card()->tries_left(Pin::Sign) == 4);
}
