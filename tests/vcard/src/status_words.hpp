// ISO 7816-4 status words the JPKI applet answers (docs/card.md, "Commands" and "Status words").
#pragma once

#include <cstdint>

namespace jpki::vcard::sw {

inline constexpr std::uint16_t ok = 0x9000;
inline constexpr std::uint16_t verify_failed = 0x63C0;  // | tries left
inline constexpr std::uint16_t memory_failure = 0x6581;
inline constexpr std::uint16_t wrong_length = 0x6700;
inline constexpr std::uint16_t logical_channel_not_supported = 0x6881;
inline constexpr std::uint16_t secure_messaging_not_supported = 0x6882;
inline constexpr std::uint16_t chaining_not_supported = 0x6884;
inline constexpr std::uint16_t incompatible_file = 0x6981;
inline constexpr std::uint16_t security_not_satisfied = 0x6982;
inline constexpr std::uint16_t authentication_blocked = 0x6984;
inline constexpr std::uint16_t conditions_not_satisfied = 0x6985;
inline constexpr std::uint16_t no_current_ef = 0x6986;
inline constexpr std::uint16_t wrong_data = 0x6A80;
inline constexpr std::uint16_t file_not_found = 0x6A82;
inline constexpr std::uint16_t wrong_p1p2 = 0x6A86;
inline constexpr std::uint16_t offset_outside_ef = 0x6B00;
inline constexpr std::uint16_t ins_not_supported = 0x6D00;
inline constexpr std::uint16_t cla_not_supported = 0x6E00;
inline constexpr std::uint16_t no_diagnosis = 0x6F00;

}  // namespace jpki::vcard::sw
