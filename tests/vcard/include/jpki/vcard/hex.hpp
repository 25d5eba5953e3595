// Hex text <-> bytes, for traces, the --atr option and tests.
#pragma once

#include <jpki/transport.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace jpki::vcard {

// Uppercase, no separators: "00A4040C".
std::string to_hex(std::span<const std::uint8_t> bytes);
// Accepts upper/lower case; spaces and ':' between bytes are ignored. nullopt if malformed.
std::optional<Bytes> parse_hex(std::string_view text);

}  // namespace jpki::vcard
