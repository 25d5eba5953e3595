#include "card/pin_policy.hpp"

#include "card/errors.hpp"

#include <algorithm>

namespace jpki::card {
namespace {

bool is_digit(std::uint8_t c) noexcept { return c >= '0' && c <= '9'; }
bool is_upper(std::uint8_t c) noexcept { return c >= 'A' && c <= 'Z'; }
bool is_lower(std::uint8_t c) noexcept { return c >= 'a' && c <= 'z'; }

bool allowed(const PinRules& rules, std::uint8_t c) noexcept {
    if (is_digit(c)) return true;
    if (rules.alphabet == PinAlphabet::Digits) return false;
    return is_upper(c) || (rules.upper_cases_letters && is_lower(c));
}

}  // namespace

PinCheck check_pin(const PinRules& rules, std::span<const std::uint8_t> pin) noexcept {
    if (pin.size() < rules.min_length || pin.size() > rules.max_length) return PinCheck::LengthOutOfRange;
    const bool all_allowed = std::ranges::all_of(pin, [&rules](std::uint8_t c) { return allowed(rules, c); });
    return all_allowed ? PinCheck::Ok : PinCheck::InvalidCharacter;
}

SecureBytes normalise_pin(const PinRules& rules, std::span<const std::uint8_t> pin) {
    switch (check_pin(rules, pin)) {
    case PinCheck::Ok: break;
    case PinCheck::LengthOutOfRange:
        throw CardError(CardError::Kind::PinLengthOutOfRange, 0, "PIN length out of range");
    case PinCheck::InvalidCharacter:
        throw CardError(CardError::Kind::PinInvalidCharacter, 0, "PIN has an invalid character");
    }
    SecureBytes out(pin);
    if (!rules.upper_cases_letters) return out;
    for (std::uint8_t& c : out.mutable_view()) {
        if (is_lower(c)) c = static_cast<std::uint8_t>(c - 'a' + 'A');
    }
    return out;
}

}  // namespace jpki::card
