// PIN formats the card enforces on CHANGE REFERENCE DATA (docs/card.md, EF 0018 / EF 001B).
#pragma once

#include <jpki/vcard/config.hpp>

#include <string_view>

namespace jpki::vcard {

// Authentication PIN: exactly 4 ASCII digits.
bool valid_auth_pin(std::string_view pin) noexcept;
// Signature password: 6..16 characters of 0-9 and A-Z.
bool valid_sign_pin(std::string_view pin) noexcept;
bool valid_pin(Pin which, std::string_view pin) noexcept;

}  // namespace jpki::vcard
