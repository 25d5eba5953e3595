#include "card/errors.hpp"

#include <array>

namespace jpki::card {
namespace {

std::string hex4(std::uint16_t sw) {
    static constexpr std::array<char, 16> digits = {'0', '1', '2', '3', '4', '5', '6', '7',
                                                    '8', '9', 'A', 'B', 'C', 'D', 'E', 'F'};
    std::string s(4, '0');
    for (int i = 3; i >= 0; --i) {
        s[static_cast<std::size_t>(i)] = digits[sw & 0xF];
        sw = static_cast<std::uint16_t>(sw >> 4);
    }
    return s;
}

}  // namespace

CardError::CardError(Kind kind, std::uint16_t sw, const std::string& message, int tries_left)
    : std::runtime_error(message), kind_(kind), sw_(sw), tries_left_(tries_left) {}

// docs/card.md, "Commands" and "Status words -> PKCS#11".
CardError error_from_status(std::uint16_t sw, std::string_view operation) {
    using Kind = CardError::Kind;
    auto make = [&](Kind kind, int tries = -1) {
        std::string message(operation);
        message += ": card answered ";
        message += hex4(sw);
        message += " (";
        message += to_string(kind);
        message += ')';
        return CardError(kind, sw, message, tries);
    };
    if ((sw & 0xFFF0) == 0x63C0) {
        const int x = sw & 0x0F;
        // 63C0: the try that just locked the PIN.
        return x == 0 ? make(Kind::PinLocked, 0) : make(Kind::PinIncorrect, x);
    }
    switch (sw) {
    case 0x6983:  // ISO 7816-4 "authentication method blocked"; not seen on JPKI, same meaning
    case 0x6984: return make(Kind::PinLocked, 0);
    case 0x6982: return make(Kind::SecurityStatusNotSatisfied);
    case 0x6A82: return make(Kind::FileNotFound);
    case 0x6700:
    case 0x6985: return make(Kind::WrongLength);
    case 0x6A86:
    case 0x6D00:
    case 0x6E00: return make(Kind::FunctionNotSupported);
    default: return make(Kind::CardError);
    }
}

void expect_ok(std::uint16_t sw, std::string_view operation) {
    if (sw != 0x9000) throw error_from_status(sw, operation);
}

CardError error_from_status(std::uint16_t sw, Instruction instruction, std::string_view operation) {
    using Kind = CardError::Kind;
    CardError error = error_from_status(sw, operation);
    bool meaningful = true;
    switch (error.kind()) {
    case Kind::PinIncorrect:
    case Kind::PinLocked:
        meaningful = instruction == Instruction::Verify || instruction == Instruction::ChangeReferenceData;
        break;
    case Kind::WrongLength:
    case Kind::FunctionNotSupported: meaningful = instruction == Instruction::ComputeDigitalSignature; break;
    case Kind::SecurityStatusNotSatisfied:
        meaningful = instruction != Instruction::Select && instruction != Instruction::Verify;
        break;
    case Kind::FileNotFound: meaningful = instruction == Instruction::Select; break;
    default: break;
    }
    if (meaningful) return error;
    return CardError(Kind::CardError, sw, std::string(error.what()) + ", which makes no sense for this command");
}

void expect_ok(std::uint16_t sw, Instruction instruction, std::string_view operation) {
    if (sw != 0x9000) throw error_from_status(sw, instruction, operation);
}

std::string_view to_string(CardError::Kind kind) noexcept {
    using Kind = CardError::Kind;
    switch (kind) {
    case Kind::PinIncorrect: return "PIN incorrect";
    case Kind::PinLocked: return "PIN locked";
    case Kind::SecurityStatusNotSatisfied: return "security status not satisfied";
    case Kind::FileNotFound: return "file not found";
    case Kind::WrongLength: return "wrong length";
    case Kind::FunctionNotSupported: return "function not supported";
    case Kind::PinLengthOutOfRange: return "PIN length out of range";
    case Kind::PinInvalidCharacter: return "PIN has an invalid character";
    case Kind::InvalidResponse: return "invalid card response";
    case Kind::SecurityStateLost: return "card security state lost";
    case Kind::CardError: return "card error";
    }
    return "card error";
}

}  // namespace jpki::card
