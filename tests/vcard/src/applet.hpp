// The card's command interpreter and state machine: selected AP and EF, PINs and their
// counters, verified flags (docs/card.md, "Commands" and "Security state"). Not thread-safe:
// Card serialises calls.
#pragma once

#include "apdu.hpp"
#include "files.hpp"
#include "state_file.hpp"

#include <jpki/vcard/config.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace jpki::vcard {

class Applet {
public:
    // `initial` holds the PINs and counters to start from (config or state file).
    Applet(const CardConfig& config, FileSystem files, const PersistentState& initial);

    Bytes process(std::span<const std::uint8_t> apdu);
    // Power on, power off or reset: the ISD is selected, no EF, no PIN verified.
    void power_cycle() noexcept;

    int tries_left(Pin which) const noexcept { return pin(which).tries_left; }
    bool verified(Pin which) const noexcept { return pin(which).verified; }

private:
    enum class Application { Isd, Jpki, Other };
    struct PinRecord {
        std::string value;
        int tries_left = 0;
        int max_tries = 0;
        bool verified = false;
    };

    Bytes select(const Command& c);
    Bytes select_application(const Command& c);
    Bytes select_ef(const Command& c);
    Bytes read_binary(const Command& c);
    Bytes verify(const Command& c);
    Bytes compute_digital_signature(const Command& c);
    Bytes change_reference_data(const Command& c);
    Bytes get_challenge(const Command& c);

    // The PIN file a VERIFY/CHANGE REFERENCE DATA targets, or the status word refusing it.
    std::optional<std::uint16_t> check_pin_file(Pin& which) const;
    const ElementaryFile* current_file() const;
    void clear_verified() noexcept;
    void persist() const;
    PinRecord& pin(Pin which) noexcept { return pins_[which == Pin::Auth ? 0 : 1]; }
    const PinRecord& pin(Pin which) const noexcept { return pins_[which == Pin::Auth ? 0 : 1]; }

    const CardConfig& config_;
    FileSystem files_;
    std::array<PinRecord, 2> pins_;
    Application application_ = Application::Isd;
    std::optional<std::uint16_t> current_ef_;
};

}  // namespace jpki::vcard
