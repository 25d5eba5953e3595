// The two PINs' formats and counters (docs/card.md, EF 0018 / EF 001B; docs/design.md §3 "Login").
// Checked on the host before any APDU: a malformed PIN never reaches the card and never spends
// a try.
#pragma once

#include <jpki/secure_bytes.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace jpki::card {

// AuthPin: EF 0018, user authentication (4 digits). SignPin: EF 001B, signature password.
enum class PinRole { Auth, Sign };

enum class PinCheck {
    Ok,
    LengthOutOfRange,  // -> CKR_PIN_LEN_RANGE
    InvalidCharacter,  // -> CKR_PIN_INVALID
};

struct PinRules {
    std::size_t min_length;  // bytes (= ASCII characters)
    std::size_t max_length;
    int max_tries;           // the card's retry counter when full
};

inline constexpr PinRules auth_pin_rules{4, 4, 3};   // exactly 4 ASCII digits, 3 tries
inline constexpr PinRules sign_pin_rules{6, 16, 5};  // 6..16 of 0-9 A-Z, 5 tries

constexpr const PinRules& pin_rules(PinRole role) noexcept {
    return role == PinRole::Auth ? auth_pin_rules : sign_pin_rules;
}

// Length first, then characters. SignPin accepts a-z (upper-cased by normalise_pin, as the
// official client does); anything else outside 0-9 A-Z is refused.
[[nodiscard]] PinCheck check_pin(PinRole role, std::span<const std::uint8_t> pin) noexcept;

// The bytes VERIFY / CHANGE REFERENCE DATA send: the PIN with a-z upper-cased (SignPin).
// Throws CardError PinLengthOutOfRange / PinInvalidCharacter when check_pin is not Ok.
[[nodiscard]] SecureBytes normalise_pin(PinRole role, std::span<const std::uint8_t> pin);

}  // namespace jpki::card
