// The JPKI applet's command APDUs, byte for byte as docs/card.md "Commands" lists them.
// Commands that carry a PIN come back as SecureBytes (wiped), never as plain Bytes.
#pragma once

#include "card/apdu.hpp"
#include "card/profile.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace jpki::card::command {

// SignatureFormat (COMPUTE DIGITAL SIGNATURE P1) is in card/profile.hpp: a profile lists the
// formats each key takes.

// 00 A4 04 0C <Lc> <AID>; the JPKI AP: 00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01.
// aid: the application's identifier (ISO 7816-4: 5..16 bytes).
Bytes select_ap(std::span<const std::uint8_t> aid = jpki_aid);
// 00 A4 02 0C 02 <FID>
Bytes select_ef(Fid fid);
// 00 B0 <off-hi> <off-lo> <Le>; offset 0..7FFF (P1 bit 8 would mean a short EF id), le 1..256.
Bytes read_binary(std::uint16_t offset, std::size_t le);
// 00 B0 <80 | sfi> <offset> <Le>: READ BINARY of the EF with short identifier sfi (1..30),
// without selecting it; offset 0..255, le 1..256.
Bytes read_binary_short_ef(std::uint8_t sfi, std::uint8_t offset, std::size_t le);
// The whole file from offset 0 with an extended Le of 00 00 (up to 65536 bytes, ISO 7816-4
// case 2E: 00 B0 P1 00 00 00 00). With sfi: 00 B0 <80 | sfi> 00 00 00 00, no SELECT EF;
// without: the current EF.
Bytes read_binary_whole_short_ef(std::uint8_t sfi);
Bytes read_binary_whole();
// 00 20 00 80 <Lc> <PIN> (ASCII, no padding); the PIN must already be normalised.
SecureBytes verify(const SecureBytes& pin);
// 00 20 00 80: the empty VERIFY, answers 63Cx and spends no try.
Bytes verify_status();
// 80 2A <P1> 80 <Lc> <data> 00
Bytes compute_digital_signature(std::span<const std::uint8_t> data, SignatureFormat format);
// 00 24 01 80 <Lc> <new PIN>, after a VERIFY of the old one.
SecureBytes change_reference_data(const SecureBytes& new_pin);
// 00 84 00 00 <Le>, le 1..256.
Bytes get_challenge(std::size_t le);
// 00 C0 00 00 <Le>: fetches the rest of an answer that came as 61xx (T=0 readers only).
Bytes get_response(std::size_t le);

}  // namespace jpki::card::command
