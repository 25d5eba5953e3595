// Fuzz target: the PIN policy (src/card/pin_policy.*) and what the card layer does with a PIN.
// Input: byte 0 picks the role (bit 0) and the operation (bit 1: verify, else change_pin with
// a valid other PIN); the rest is the PIN, any bytes.
//
// Asserted: check_pin() agrees with an independent reading of docs/card.md (Auth: exactly 4
// digits; Sign: 6..16 of 0-9 A-Z a-z, length checked first); normalise_pin() throws the
// matching CardError kind when check_pin() is not Ok, and otherwise returns the PIN upper-cased,
// same length, passing check_pin(), idempotent; a PIN the policy rejects causes zero APDUs and
// no transaction in verify() and change_pin(); an accepted one goes out normalised, once.
#include "scripted_connection.hpp"

#include "card/jpki_applet.hpp"
#include "card/pin_policy.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>

using jpki::Bytes;
using jpki::SecureBytes;
using jpki::card::CardError;
using jpki::card::PinCheck;
using jpki::card::PinRole;
using jpki::fuzz::require;

namespace {

PinCheck oracle(PinRole role, std::span<const std::uint8_t> pin) {
    const bool auth = role == PinRole::Auth;
    if (auth ? pin.size() != 4 : (pin.size() < 6 || pin.size() > 16)) return PinCheck::LengthOutOfRange;
    for (const std::uint8_t c : pin) {
        const bool digit = c >= '0' && c <= '9';
        const bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        if (!(digit || (!auth && letter))) return PinCheck::InvalidCharacter;
    }
    return PinCheck::Ok;
}

// Counts APDUs and transactions; answers 9000 to everything (a card that accepts any PIN).
class CountingCard : public jpki::transport::Connection {
public:
    Bytes transmit(std::span<const std::uint8_t> command) override {
        require(jpki::fuzz::well_formed_command_apdu(command), "malformed command APDU");
        sent.emplace_back(command.begin(), command.end());
        return {0x90, 0x00};
    }
    void begin_transaction() override { ++transactions; }
    void end_transaction() noexcept override {}
    void reconnect() override {}
    void reset_card() override {}
    [[nodiscard]] Bytes atr() const override { return {0x3B, 0x00}; }

    std::vector<Bytes> sent;
    int transactions = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const PinRole role = (data[0] & 1) != 0 ? PinRole::Sign : PinRole::Auth;
    const bool verify = (data[0] & 2) != 0;
    const std::span<const std::uint8_t> pin(data + 1, size - 1);

    const PinCheck check = jpki::card::check_pin(role, pin);
    require(check == oracle(role, pin), "check_pin disagrees with the PIN rules");

    std::optional<Bytes> normalised;
    try {
        const SecureBytes out = jpki::card::normalise_pin(role, pin);
        require(check == PinCheck::Ok, "normalise_pin accepted a PIN check_pin refuses");
        const auto view = out.view();
        require(view.size() == pin.size(), "normalise_pin changed the length");
        require(jpki::card::check_pin(role, view) == PinCheck::Ok, "normalised PIN fails check_pin");
        for (std::size_t i = 0; i < pin.size(); ++i) {
            const std::uint8_t c = pin[i];
            const std::uint8_t upper = c >= 'a' && c <= 'z' ? static_cast<std::uint8_t>(c - 'a' + 'A') : c;
            require(view[i] == upper, "normalise_pin is not upper-casing");
        }
        const SecureBytes twice = jpki::card::normalise_pin(role, view);
        require(std::ranges::equal(twice.view(), view), "normalise_pin is not idempotent");
        normalised = Bytes(view.begin(), view.end());
    } catch (const CardError& e) {
        require(check != PinCheck::Ok, "normalise_pin refused a PIN check_pin accepts");
        const auto wanted = check == PinCheck::LengthOutOfRange ? CardError::Kind::PinLengthOutOfRange
                                                                : CardError::Kind::PinInvalidCharacter;
        require(e.kind() == wanted && e.sw() == 0, "normalise_pin threw the wrong kind");
    }

    // The applet: zero APDUs for a rejected PIN; the normalised PIN, once, for a good one.
    CountingCard card;
    jpki::card::JpkiApplet applet(card);
    const SecureBytes given(pin);
    const SecureBytes other(role == PinRole::Auth ? std::string_view("1234") : std::string_view("ABC123"));
    try {
        if (verify) {
            applet.verify(role, given);
        } else if ((data[0] & 4) != 0) {
            applet.change_pin(role, given, other);
        } else {
            applet.change_pin(role, other, given);
        }
        require(check == PinCheck::Ok, "the applet accepted a PIN the policy refuses");
    } catch (const CardError& e) {
        require(check != PinCheck::Ok, "the applet refused a PIN the policy accepts");
        require(e.kind() == CardError::Kind::PinLengthOutOfRange || e.kind() == CardError::Kind::PinInvalidCharacter,
                "a refused PIN gave another CardError kind");
        require(card.sent.empty() && card.transactions == 0, "a refused PIN caused card traffic");
        return 0;
    }
    const auto carries = [&](std::uint8_t ins) {
        return std::ranges::count_if(card.sent, [&](const Bytes& a) {
            return a.size() == 5 + normalised->size() && a[1] == ins &&
                   std::equal(normalised->begin(), normalised->end(), a.begin() + 5);
        });
    };
    if (verify) {
        require(carries(0x20) == 1, "VERIFY does not carry the normalised PIN exactly once");
    } else {
        require(carries(0x20) + carries(0x24) >= 1, "the normalised PIN did not go out");
    }
    return 0;
}
