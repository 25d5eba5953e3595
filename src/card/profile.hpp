// The JPKI applet's names and numbers (docs/card.md, "Applications" and "Elementary files"):
// its AID, its EFs, and which PIN and key file belong to each PIN role. Kept as data so a
// next-generation card (docs/design.md §6) means a new table, not new code.
#pragma once

#include "card/pin_policy.hpp"

#include <array>
#include <cstdint>

namespace jpki::card {

using Fid = std::uint16_t;  // a 2-byte file identifier, as in SELECT EF 00 A4 02 0C 02 <FID>

// 公的個人認証AP (docs/card.md, "Applications" [HW]).
inline constexpr std::array<std::uint8_t, 10> jpki_aid = {0xD3, 0x92, 0xF0, 0x00, 0x26,
                                                          0x01, 0x00, 0x00, 0x00, 0x01};

namespace ef {
inline constexpr Fid sign_certificate = 0x0001;     // needs the sign password verified
inline constexpr Fid sign_ca_certificate = 0x0002;  // free
inline constexpr Fid token_info = 0x0006;           // 32-byte space-padded label first
inline constexpr Fid certificate_flags = 0x0008;    // 3 bytes: [0] sign cert, [1] auth cert
inline constexpr Fid auth_certificate = 0x000A;     // free
inline constexpr Fid auth_ca_certificate = 0x000B;  // free
inline constexpr Fid auth_key = 0x0017;             // RSA-2048, AuthPin verified
inline constexpr Fid auth_pin = 0x0018;             // 4 digits, 3 tries
inline constexpr Fid sign_key = 0x001A;             // RSA-2048, SignPin verified
inline constexpr Fid sign_pin = 0x001B;             // 6..16 of 0-9 A-Z, 5 tries
}  // namespace ef

inline constexpr std::size_t token_label_length = 32;  // EF 0006 label, space padded

// A file the module reads with READ BINARY, as the card reference knows it (docs/card.md
// "Elementary files" and "Longer reads, fewer APDUs").
struct ReadableFile {
    Fid fid;
    // Short EF identifier (ISO 7816-4: READ BINARY P1 = 80 | sfi, no SELECT EF). On the JPKI AP
    // the SFI is the EF number; myna-browser-ext reads EF 000A this way [ONE]; for the others it
    // is the same rule, untried, so the module falls back to SELECT EF when a card refuses.
    std::uint8_t sfi;
    // Largest size the module accepts. A certificate EF holds a DER object (30 82 hh ll) and
    // filler; READ BINARY offsets stop at 7FFF. EF 0006 is a 160-byte token info [ONE].
    std::size_t max_size;
};

inline constexpr std::size_t max_certificate_size = 0x8000;

namespace file {
inline constexpr ReadableFile sign_certificate{ef::sign_certificate, 0x01, max_certificate_size};
inline constexpr ReadableFile sign_ca_certificate{ef::sign_ca_certificate, 0x02, max_certificate_size};
inline constexpr ReadableFile token_info{ef::token_info, 0x06, 160};
inline constexpr ReadableFile certificate_flags{ef::certificate_flags, 0x08, 3};
inline constexpr ReadableFile auth_certificate{ef::auth_certificate, 0x0A, max_certificate_size};
inline constexpr ReadableFile auth_ca_certificate{ef::auth_ca_certificate, 0x0B, max_certificate_size};
inline constexpr std::array<ReadableFile, 4> certificates = {auth_certificate, auth_ca_certificate,
                                                             sign_certificate, sign_ca_certificate};
}  // namespace file

// COMPUTE DIGITAL SIGNATURE P1 00: the card adds PKCS#1 v1.5 type-1 padding to 1..245 bytes.
inline constexpr std::size_t max_sign_input = 245;
// P1 04: RSASSA-PSS over exactly one SHA-256 hash [ONE].
inline constexpr std::size_t pss_hash_length = 32;

constexpr Fid pin_ef(PinRole role) noexcept { return role == PinRole::Auth ? ef::auth_pin : ef::sign_pin; }
constexpr Fid key_ef(PinRole role) noexcept { return role == PinRole::Auth ? ef::auth_key : ef::sign_key; }

}  // namespace jpki::card
