#include <jpki/vcard/pin_format.hpp>

namespace jpki::vcard {

bool valid_auth_pin(std::string_view pin) noexcept {
    if (pin.size() != 4) return false;
    for (const char ch : pin) {
        if (ch < '0' || ch > '9') return false;
    }
    return true;
}

bool valid_sign_pin(std::string_view pin) noexcept {
    if (pin.size() < 6 || pin.size() > 16) return false;
    for (const char ch : pin) {
        if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z'))) return false;
    }
    return true;
}

bool valid_pin(Pin which, std::string_view pin) noexcept {
    return which == Pin::Auth ? valid_auth_pin(pin) : valid_sign_pin(pin);
}

}  // namespace jpki::vcard
