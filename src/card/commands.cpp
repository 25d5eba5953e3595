#include "card/commands.hpp"

#include <array>
#include <stdexcept>

namespace jpki::card::command {
namespace {

constexpr std::uint8_t ins_select = 0xA4;
constexpr std::uint8_t ins_read_binary = 0xB0;
constexpr std::uint8_t ins_verify = 0x20;
constexpr std::uint8_t ins_change_reference_data = 0x24;
constexpr std::uint8_t ins_compute_digital_signature = 0x2A;
constexpr std::uint8_t ins_get_challenge = 0x84;
constexpr std::uint8_t ins_get_response = 0xC0;

// P2 80: "specific reference data" (the currently selected PIN / key EF).
constexpr std::uint8_t p2_selected_ef = 0x80;

}  // namespace

Bytes select_ap(std::span<const std::uint8_t> aid) {
    // P1 04 select by DF name, P2 0C no FCI wanted.
    return build_command({0x00, ins_select, 0x04, 0x0C}, aid);
}

Bytes select_ef(Fid fid) {
    const std::array<std::uint8_t, 2> id = {static_cast<std::uint8_t>(fid >> 8), static_cast<std::uint8_t>(fid & 0xFF)};
    return build_command({0x00, ins_select, 0x02, 0x0C}, id);
}

Bytes read_binary(std::uint16_t offset, std::size_t le) {
    if (offset > 0x7FFF) throw std::length_error("READ BINARY offset above 7FFF");
    return build_command({0x00, ins_read_binary, static_cast<std::uint8_t>(offset >> 8),
                          static_cast<std::uint8_t>(offset & 0xFF)},
                         {}, le);
}

Bytes read_binary_short_ef(std::uint8_t sfi, std::uint8_t offset, std::size_t le) {
    if (sfi == 0 || sfi > 30) throw std::invalid_argument("short EF identifier must be 1..30");
    return build_command({0x00, ins_read_binary, static_cast<std::uint8_t>(0x80 | sfi), offset}, {}, le);
}

namespace {
// Case 2E with Le 00 00 = 65536: "as much as the file holds".
Bytes read_whole(std::uint8_t p1) { return {0x00, ins_read_binary, p1, 0x00, 0x00, 0x00, 0x00}; }
}  // namespace

Bytes read_binary_whole_short_ef(std::uint8_t sfi) {
    if (sfi == 0 || sfi > 30) throw std::invalid_argument("short EF identifier must be 1..30");
    return read_whole(static_cast<std::uint8_t>(0x80 | sfi));
}

Bytes read_binary_whole() { return read_whole(0x00); }

SecureBytes verify(const SecureBytes& pin) {
    if (pin.empty()) throw std::length_error("VERIFY with an empty PIN; use verify_status()");
    return build_secret_command({0x00, ins_verify, 0x00, p2_selected_ef}, pin.view());
}

Bytes verify_status() { return build_command({0x00, ins_verify, 0x00, p2_selected_ef}); }

Bytes compute_digital_signature(std::span<const std::uint8_t> data, SignatureFormat format) {
    if (data.empty()) throw std::length_error("COMPUTE DIGITAL SIGNATURE with no data");
    return build_command({0x80, ins_compute_digital_signature, static_cast<std::uint8_t>(format), p2_selected_ef},
                         data, max_le);
}

SecureBytes change_reference_data(const SecureBytes& new_pin) {
    if (new_pin.empty()) throw std::length_error("CHANGE REFERENCE DATA with an empty PIN");
    // P1 01: the data is the new PIN alone (the old one was just verified).
    return build_secret_command({0x00, ins_change_reference_data, 0x01, p2_selected_ef}, new_pin.view());
}

Bytes get_challenge(std::size_t le) { return build_command({0x00, ins_get_challenge, 0x00, 0x00}, {}, le); }

Bytes get_response(std::size_t le) { return build_command({0x00, ins_get_response, 0x00, 0x00}, {}, le); }

}  // namespace jpki::card::command
