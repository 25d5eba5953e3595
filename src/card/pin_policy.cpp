#include "card/pin_policy.hpp"

#include "card/errors.hpp"

#include <algorithm>

namespace jpki::card {
namespace {

bool is_digit(std::uint8_t c) noexcept { return c >= '0' && c <= '9'; }
bool is_upper(std::uint8_t c) noexcept { return c >= 'A' && c <= 'Z'; }
bool is_lower(std::uint8_t c) noexcept { return c >= 'a' && c <= 'z'; }

bool allowed(PinRole role, std::uint8_t c) noexcept {
    if (role == PinRole::Auth) return is_digit(c);
    return is_digit(c) || is_upper(c) || is_lower(c);
}

}  // namespace

PinCheck check_pin(PinRole role, std::span<const std::uint8_t> pin) noexcept {
    const PinRules& rules = pin_rules(role);
    if (pin.size() < rules.min_length || pin.size() > rules.max_length) return PinCheck::LengthOutOfRange;
    const bool all_allowed = std::ranges::all_of(pin, [role](std::uint8_t c) { return allowed(role, c); });
    return all_allowed ? PinCheck::Ok : PinCheck::InvalidCharacter;
}

SecureBytes normalise_pin(PinRole role, std::span<const std::uint8_t> pin) {
    switch (check_pin(role, pin)) {
    case PinCheck::Ok: break;
    case PinCheck::LengthOutOfRange:
        throw CardError(CardError::Kind::PinLengthOutOfRange, 0, "PIN length out of range");
    case PinCheck::InvalidCharacter:
        throw CardError(CardError::Kind::PinInvalidCharacter, 0, "PIN has an invalid character");
    }
    SecureBytes out(pin);
    for (std::uint8_t& c : out.mutable_view()) {
        if (is_lower(c)) c = static_cast<std::uint8_t>(c - 'a' + 'A');
    }
    return out;
}

}  // namespace jpki::card
