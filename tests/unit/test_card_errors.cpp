// Status words -> CardError kinds (docs/card.md "Status words -> PKCS#11").
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

TEST_CASE("a status word that makes no sense for the command is a card error, not news", "[card][errors][hostile]") {
    using jpki::card::Instruction;
    const auto kind = [](std::uint16_t sw, Instruction instruction) {
        return jpki::card::error_from_status(sw, instruction, "X").kind();
    };
    // PIN answers only to the commands that carry a PIN.
    CHECK(kind(0x63C2, Instruction::Verify) == Kind::PinIncorrect);
    CHECK(kind(0x63C0, Instruction::ChangeReferenceData) == Kind::PinLocked);
    CHECK(kind(0x6984, Instruction::Verify) == Kind::PinLocked);
    for (const Instruction other : {Instruction::Select, Instruction::ReadBinary, Instruction::ComputeDigitalSignature,
                                    Instruction::GetChallenge}) {
        CHECK(kind(0x63C2, other) == Kind::CardError);
        CHECK(kind(0x63C0, other) == Kind::CardError);
        CHECK(kind(0x6983, other) == Kind::CardError);
        CHECK(kind(0x6984, other) == Kind::CardError);
    }
    // Length and function complaints only from COMPUTE DIGITAL SIGNATURE.
    CHECK(kind(0x6700, Instruction::ComputeDigitalSignature) == Kind::WrongLength);
    CHECK(kind(0x6A86, Instruction::ComputeDigitalSignature) == Kind::FunctionNotSupported);
    CHECK(kind(0x6700, Instruction::Verify) == Kind::CardError);
    CHECK(kind(0x6985, Instruction::ReadBinary) == Kind::CardError);
    CHECK(kind(0x6D00, Instruction::Select) == Kind::CardError);
    // "Not logged in" from the commands a PIN guards; "no such file" from SELECT.
    CHECK(kind(0x6982, Instruction::ReadBinary) == Kind::SecurityStatusNotSatisfied);
    CHECK(kind(0x6982, Instruction::ComputeDigitalSignature) == Kind::SecurityStatusNotSatisfied);
    CHECK(kind(0x6982, Instruction::Select) == Kind::CardError);
    CHECK(kind(0x6A82, Instruction::Select) == Kind::FileNotFound);
    CHECK(kind(0x6A82, Instruction::ComputeDigitalSignature) == Kind::CardError);
    // The status word is kept either way.
    CHECK(jpki::card::error_from_status(0x63C1, Instruction::Select, "SELECT EF").sw() == 0x63C1);
    CHECK_THROWS_AS(jpki::card::expect_ok(0x63C1, Instruction::Select, "X"), CardError);
    CHECK_NOTHROW(jpki::card::expect_ok(0x9000, Instruction::Select, "X"));
}
