// Command APDU parsing, short APDUs only (docs/card.md: "Commands (short APDUs only)").
#pragma once

#include <jpki/transport.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace jpki::vcard {

struct Command {
    std::uint8_t cla = 0;
    std::uint8_t ins = 0;
    std::uint8_t p1 = 0;
    std::uint8_t p2 = 0;
    std::span<const std::uint8_t> data;  // points into the caller's buffer; empty if none
    std::optional<std::size_t> le;       // 1..256 when present (Le 00 means 256); extended 1..65536
};

// ISO 7816-4 cases 1-4 with short lengths, and with `extended` also cases 2E-4E (a 00 byte after
// the header, then 2-byte Lc and/or Le; Le 00 00 = 65536). nullopt means the length bytes are
// inconsistent (fewer than 4 bytes, an extended form when `extended` is false, or Lc not
// matching the length): 6700.
std::optional<Command> parse_command(std::span<const std::uint8_t> apdu, bool extended = false);

// Response helpers: data followed by SW1 SW2.
Bytes status(std::uint16_t sw);
Bytes response(std::span<const std::uint8_t> data, std::uint16_t sw);

}  // namespace jpki::vcard
