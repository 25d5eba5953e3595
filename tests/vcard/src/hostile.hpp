// The hostile card's answer spoiler (CardConfig::hostile): given the applet's honest answer,
// returns what a broken or malicious card might send instead.
#pragma once

#include <jpki/vcard/config.hpp>

#include <cstdint>
#include <random>
#include <span>

namespace jpki::vcard {

class Hostile {
public:
    explicit Hostile(const Hostility& hostility);

    // The answer to send for `command`, whose honest answer (data + SW1 SW2) is `answer`.
    // With mode Off, `answer` unchanged. May return fewer than 2 bytes (Truncated).
    Bytes spoil(std::span<const std::uint8_t> command, Bytes answer);

private:
    std::uint8_t byte() { return static_cast<std::uint8_t>(rng_() & 0xFF); }
    std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng_() % n); }
    Bytes truncated(Bytes answer);
    Bytes oversized(std::span<const std::uint8_t> command, Bytes answer);
    Bytes nonsense(Bytes answer);
    Bytes wrong_sw(std::span<const std::uint8_t> command, Bytes answer);

    Hostility hostility_;
    std::mt19937_64 rng_;
};

}  // namespace jpki::vcard
