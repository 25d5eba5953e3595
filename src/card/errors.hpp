// What the card layer throws (docs/card.md, "Status words -> PKCS#11"). One class, CardError,
// whose Kind the token layer maps to a CK_RV; this layer knows no CK_* itself.
//
// Not caught or wrapped here: jpki::transport::CardRemoved and ServiceUnavailable pass through
// unchanged. transport::CardReset is handled by JpkiApplet (reconnect, then
// Kind::SecurityStateLost or a transparent retry; see jpki_applet.hpp).
// Caller mistakes (a FID that is not a certificate, an APDU over short limits) are
// std::invalid_argument / std::length_error: programming errors, not card answers.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace jpki::card {

class CardError : public std::runtime_error {
public:
    enum class Kind {
        PinIncorrect,                // 63Cx, x > 0: tries_left() = x        -> CKR_PIN_INCORRECT
        PinLocked,                   // 63C0, 6983, 6984: tries_left() = 0   -> CKR_PIN_LOCKED
        SecurityStatusNotSatisfied,  // 6982 (PIN not verified)             -> CKR_USER_NOT_LOGGED_IN
        FileNotFound,                // 6A82 (no such EF, or no JPKI AP)
        WrongLength,                 // 6700, 6985; also sign input outside 1..245 (no APDU sent)
                                     //                                      -> CKR_DATA_LEN_RANGE
        FunctionNotSupported,        // 6A86, 6D00, 6E00 (e.g. PSS P1 04)    -> CKR_MECHANISM_INVALID
        PinLengthOutOfRange,         // PIN policy, no APDU sent             -> CKR_PIN_LEN_RANGE
        PinInvalidCharacter,         // PIN policy, no APDU sent             -> CKR_PIN_INVALID
        InvalidResponse,             // answer malformed: < 2 bytes, bad certificate header,
                                     // empty signature                      -> CKR_DEVICE_ERROR
        SecurityStateLost,           // card reset (reconnected) or JPKI AP re-selected under a
                                     // login-dependent operation: drop both logins
                                     //                                      -> CKR_USER_NOT_LOGGED_IN
        CardError,                   // any other status word; sw() keeps it -> CKR_DEVICE_ERROR
    };

    // sw: the card's status word, 0 when the error arose on the host (no card answer).
    // tries_left: for PinIncorrect / PinLocked, else -1.
    CardError(Kind kind, std::uint16_t sw, const std::string& message, int tries_left = -1);

    [[nodiscard]] Kind kind() const noexcept { return kind_; }
    [[nodiscard]] std::uint16_t sw() const noexcept { return sw_; }
    [[nodiscard]] int tries_left() const noexcept { return tries_left_; }

private:
    Kind kind_;
    std::uint16_t sw_;
    int tries_left_;
};

// The CardError a non-9000 status word means; operation names the command in the message
// (e.g. "VERIFY"). Never include command data (a PIN) in operation.
[[nodiscard]] CardError error_from_status(std::uint16_t sw, std::string_view operation);
// Throws error_from_status(sw, operation) unless sw is 9000.
void expect_ok(std::uint16_t sw, std::string_view operation);

// The commands the applet sends, for the status words whose meaning depends on the command.
enum class Instruction { Select, ReadBinary, Verify, ChangeReferenceData, ComputeDigitalSignature, GetChallenge };

// error_from_status for an answer to `instruction`. A status word that means nothing for that
// command (63Cx / 6983 / 6984 to a command that carries no PIN; 6700 / 6985 / 6A86 / 6D00 /
// 6E00 to anything but COMPUTE DIGITAL SIGNATURE, whose input length and P1 vary; 6982 to a
// SELECT or VERIFY; 6A82 to anything but a SELECT) is a malformed answer: Kind::CardError
// (-> CKR_DEVICE_ERROR), never news about a PIN, a mechanism or a login, so a broken card
// cannot make C_GetTokenInfo show a locked PIN or C_Sign answer CKR_PIN_INCORRECT.
[[nodiscard]] CardError error_from_status(std::uint16_t sw, Instruction instruction, std::string_view operation);
// Throws error_from_status(sw, instruction, operation) unless sw is 9000.
void expect_ok(std::uint16_t sw, Instruction instruction, std::string_view operation);

[[nodiscard]] std::string_view to_string(CardError::Kind kind) noexcept;

}  // namespace jpki::card
