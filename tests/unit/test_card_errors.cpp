// Status words -> CardError kinds (JPKI-CARD.md "Status words -> PKCS#11").
#include "card/errors.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace {
using jpki::card::CardError;
using Kind = CardError::Kind;
}  // namespace

TEST_CASE("each status word maps to its kind, keeping the SW", "[card][errors]") {
    struct Case {
        std::uint16_t sw;
        Kind kind;
        int tries;
    };
    const Case cases[] = {
        {0x63C3, Kind::PinIncorrect, 3},
        {0x63C2, Kind::PinIncorrect, 2},
        {0x63C1, Kind::PinIncorrect, 1},
        {0x63CF, Kind::PinIncorrect, 15},
        {0x63C0, Kind::PinLocked, 0},
        {0x6984, Kind::PinLocked, 0},
        {0x6983, Kind::PinLocked, 0},
        {0x6982, Kind::SecurityStatusNotSatisfied, -1},
        {0x6A82, Kind::FileNotFound, -1},
        {0x6700, Kind::WrongLength, -1},
        {0x6985, Kind::WrongLength, -1},
        {0x6A86, Kind::FunctionNotSupported, -1},
        {0x6D00, Kind::FunctionNotSupported, -1},
        {0x6E00, Kind::FunctionNotSupported, -1},
        {0x6B00, Kind::CardError, -1},
        {0x6F00, Kind::CardError, -1},
        {0x6581, Kind::CardError, -1},
        {0x6300, Kind::CardError, -1},
        {0x6881, Kind::CardError, -1},
    };
    for (const auto& c : cases) {
        INFO("SW " << std::hex << c.sw);
        const CardError e = jpki::card::error_from_status(c.sw, "TEST");
        CHECK(e.kind() == c.kind);
        CHECK(e.sw() == c.sw);
        CHECK(e.tries_left() == c.tries);
    }
}

TEST_CASE("error messages name the command and the SW", "[card][errors]") {
    const CardError e = jpki::card::error_from_status(0x6A82, "SELECT EF");
    CHECK(std::string(e.what()) == "SELECT EF: card answered 6A82 (file not found)");
}

TEST_CASE("expect_ok passes 9000 and throws anything else", "[card][errors]") {
    CHECK_NOTHROW(jpki::card::expect_ok(0x9000, "X"));
    CHECK_THROWS_AS(jpki::card::expect_ok(0x6982, "X"), CardError);
    CHECK_THROWS_AS(jpki::card::expect_ok(0x6282, "X"), CardError);  // warnings are not success
}
