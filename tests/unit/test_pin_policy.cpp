// PIN policy (docs/card.md EF 0018 / 001B; docs/design.md §3 "Login"): checked before any APDU.
#include "card/errors.hpp"
#include "card/pin_policy.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

namespace {

using jpki::card::PinCheck;
using jpki::card::PinRole;
namespace card = jpki::card;

std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

PinCheck check(PinRole role, std::string_view pin) { return card::check_pin(role, bytes(pin)); }

std::string normalised(PinRole role, std::string_view pin) {
    const auto out = card::normalise_pin(role, bytes(pin));
    return {out.view().begin(), out.view().end()};
}

}  // namespace

TEST_CASE("AuthPin: exactly 4 ASCII digits", "[pin]") {
    CHECK(check(PinRole::Auth, "1234") == PinCheck::Ok);
    CHECK(check(PinRole::Auth, "0000") == PinCheck::Ok);
    CHECK(check(PinRole::Auth, "123") == PinCheck::LengthOutOfRange);
    CHECK(check(PinRole::Auth, "12345") == PinCheck::LengthOutOfRange);
    CHECK(check(PinRole::Auth, "") == PinCheck::LengthOutOfRange);
    CHECK(check(PinRole::Auth, "12a4") == PinCheck::InvalidCharacter);
    CHECK(check(PinRole::Auth, "12A4") == PinCheck::InvalidCharacter);
    CHECK(check(PinRole::Auth, "12 4") == PinCheck::InvalidCharacter);
    CHECK(check(PinRole::Auth, std::string_view("12\0" "4", 4)) == PinCheck::InvalidCharacter);
    CHECK(normalised(PinRole::Auth, "1234") == "1234");
}

TEST_CASE("SignPin: 6..16 of 0-9 A-Z, lowercase upper-cased", "[pin]") {
    CHECK(check(PinRole::Sign, "ABC123") == PinCheck::Ok);
    CHECK(check(PinRole::Sign, "0123456789ABCDEF") == PinCheck::Ok);   // 16
    CHECK(check(PinRole::Sign, "ABC12") == PinCheck::LengthOutOfRange);  // 5
    CHECK(check(PinRole::Sign, "0123456789ABCDEFG") == PinCheck::LengthOutOfRange);  // 17
    CHECK(check(PinRole::Sign, "abc123") == PinCheck::Ok);
    CHECK(normalised(PinRole::Sign, "abc123") == "ABC123");
    CHECK(normalised(PinRole::Sign, "aBcXyZ09") == "ABCXYZ09");
    CHECK(check(PinRole::Sign, "ABC-12") == PinCheck::InvalidCharacter);
    CHECK(check(PinRole::Sign, "ABC 12") == PinCheck::InvalidCharacter);
    CHECK(check(PinRole::Sign, "ABC12\xC3\xA9") == PinCheck::InvalidCharacter);  // "é" in UTF-8
    CHECK(check(PinRole::Sign, "\xEF\xBC\xA1\xEF\xBC\xA2") == PinCheck::InvalidCharacter);  // full-width AB
    CHECK(check(PinRole::Sign, "ABC12\x7F") == PinCheck::InvalidCharacter);
}

TEST_CASE("normalise_pin refuses what check_pin refuses", "[pin]") {
    using Kind = card::CardError::Kind;
    try {
        (void)card::normalise_pin(PinRole::Auth, bytes("123"));
        FAIL("accepted");
    } catch (const card::CardError& e) {
        CHECK(e.kind() == Kind::PinLengthOutOfRange);
        CHECK(e.sw() == 0);
    }
    try {
        (void)card::normalise_pin(PinRole::Sign, bytes("ABC-12"));
        FAIL("accepted");
    } catch (const card::CardError& e) {
        CHECK(e.kind() == Kind::PinInvalidCharacter);
    }
}

TEST_CASE("PIN limits for token info", "[pin]") {
    CHECK(card::pin_rules(PinRole::Auth).min_length == 4);
    CHECK(card::pin_rules(PinRole::Auth).max_length == 4);
    CHECK(card::pin_rules(PinRole::Auth).max_tries == 3);
    CHECK(card::pin_rules(PinRole::Sign).min_length == 6);
    CHECK(card::pin_rules(PinRole::Sign).max_length == 16);
    CHECK(card::pin_rules(PinRole::Sign).max_tries == 5);
}
