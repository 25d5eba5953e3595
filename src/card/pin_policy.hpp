// The PINs' formats and counters as the card profile gives them (card/profile.hpp; docs/card.md,
// EF 0018 / EF 001B; docs/design.md §3 "Login"). Checked on the host before any APDU: a
// malformed PIN never reaches the card and never spends a try.
#pragma once

#include "card/profile.hpp"

#include <jpki/secure_bytes.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace jpki::card {

enum class PinCheck {
    Ok,
    LengthOutOfRange,  // -> CKR_PIN_LEN_RANGE
    InvalidCharacter,  // -> CKR_PIN_INVALID
};

// The JPKI card's rules for the role's PIN (jpki_card_profile).
constexpr const PinRules& pin_rules(PinRole role) noexcept { return jpki_card_profile.role(role).pin; }

// Length first, then characters: the alphabet, plus a-z where the rules upper-case letters
// (normalise_pin does); anything else is refused.
[[nodiscard]] PinCheck check_pin(const PinRules& rules, std::span<const std::uint8_t> pin) noexcept;
[[nodiscard]] inline PinCheck check_pin(PinRole role, std::span<const std::uint8_t> pin) noexcept {
    return check_pin(pin_rules(role), pin);
}

// The bytes VERIFY / CHANGE REFERENCE DATA send: the PIN, a-z upper-cased where the rules say so.
// Throws CardError PinLengthOutOfRange / PinInvalidCharacter when check_pin is not Ok.
[[nodiscard]] SecureBytes normalise_pin(const PinRules& rules, std::span<const std::uint8_t> pin);
[[nodiscard]] inline SecureBytes normalise_pin(PinRole role, std::span<const std::uint8_t> pin) {
    return normalise_pin(pin_rules(role), pin);
}

}  // namespace jpki::card
