// ISO 7816-4 short APDUs: building command APDUs (cases 1-4) and splitting a response into data
// and status word. Only short APDUs exist on the card (docs/card.md, "Commands").
#pragma once

#include <jpki/secure_bytes.hpp>
#include <jpki/transport.hpp>  // jpki::Bytes

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace jpki::card {

inline constexpr std::size_t max_lc = 255;  // short Lc
inline constexpr std::size_t max_le = 256;  // short Le; 256 is encoded as 00

struct CommandHeader {
    std::uint8_t cla = 0x00;
    std::uint8_t ins = 0x00;
    std::uint8_t p1 = 0x00;
    std::uint8_t p2 = 0x00;
};

// Case 1 (no data, no le), 2 (le only), 3 (data only) or 4 (data and le).
// data: 0..255 bytes; le: 1..256 (256 is sent as 00). Throws std::length_error otherwise.
Bytes build_command(const CommandHeader& header, std::span<const std::uint8_t> data = {},
                    std::optional<std::size_t> le = std::nullopt);
// The same, built straight into a wiped buffer: for commands that carry a PIN.
SecureBytes build_secret_command(const CommandHeader& header, std::span<const std::uint8_t> data,
                                 std::optional<std::size_t> le = std::nullopt);

struct Response {
    Bytes data;
    std::uint16_t sw = 0;

    [[nodiscard]] bool ok() const noexcept { return sw == 0x9000; }
    [[nodiscard]] std::uint8_t sw1() const noexcept { return static_cast<std::uint8_t>(sw >> 8); }
    [[nodiscard]] std::uint8_t sw2() const noexcept { return static_cast<std::uint8_t>(sw & 0xFF); }
};

// Splits "data SW1 SW2". Throws CardError(Kind::InvalidResponse) when fewer than 2 bytes came.
Response parse_response(std::span<const std::uint8_t> raw);

}  // namespace jpki::card
