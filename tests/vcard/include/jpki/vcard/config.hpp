// What a virtual My Number Card is made of: its PINs, counters and knobs (docs/design.md §4).
#pragma once

#include <jpki/transport.hpp>  // jpki::Bytes

#include <chrono>
#include <cstdint>
#include <string>

#ifndef JPKI_TEST_PKI_DIR
#error "JPKI_TEST_PKI_DIR must be defined (tests/vcard/CMakeLists.txt sets it on jpki_vcard)"
#endif

namespace jpki::vcard {

using jpki::Bytes;

// The card's two PINs (docs/card.md, EF 0018 and EF 001B).
enum class Pin { Auth, Sign };

inline constexpr int auth_max_tries = 3;  // docs/card.md: EF 0018, 3 tries
inline constexpr int sign_max_tries = 5;  // docs/card.md: EF 001B, 5 tries

// A hostile card (issue 7, fuzzing): after the applet has answered, some answers are spoiled,
// so the module can be tried against a card that breaks ISO 7816-4. Deterministic: the same
// seed and the same commands give the same answers.
enum class HostileMode {
    Off,
    Truncated,  // data cut short; now and then the status word too (0 or 1 byte answers)
    Oversized,  // extra data after the real answer: more bytes than Le asked for
    Nonsense,   // the data replaced by random bytes (often with 9000)
    WrongSw,    // the status word replaced: 61xx, 6Cxx, 63Cx on any command, 9000 on errors...
    Random,     // one of the four above, picked per answer
};

struct Hostility {
    HostileMode mode = HostileMode::Off;
    std::uint64_t seed = 0;
    int percent = 30;  // share of answers spoiled, 0..100 (100: every answer)
};

// "off", "truncated", "oversized", "nonsense", "wrong-sw" or "random"; throws
// std::invalid_argument for any other name.
HostileMode parse_hostile_mode(const std::string& name);

struct CardConfig {
    std::string auth_pin = "1234";    // exactly 4 digits
    std::string sign_pin = "ABC123";  // 6..16 of 0-9 A-Z
    int auth_tries = auth_max_tries;  // tries left at start, 0..3
    int sign_tries = sign_max_tries;  // tries left at start, 0..5
    bool sign_cert = true;            // false: an under-15 card without EF 0001/001A/001B
    bool pss = false;                 // accept COMPUTE DIGITAL SIGNATURE P1 04 (RSASSA-PSS)
    bool reselect_clears = false;     // re-selecting the JPKI AID drops verified PINs
    // Card and reader variants of issue 11 (docs/card.md "Longer reads, fewer APDUs"):
    bool extended_apdu = true;    // false: the card answers 6700 to any extended-length APDU
    bool short_ef_id = true;      // false: READ BINARY with P1 bit 8 set (short EF id) answers 6A86
    bool reader_extended = true;  // false: the reader refuses extended APDUs (never reach the card)
    // Contact ATR seen on real cards; OpenSC's JPKI driver matches exactly this one.
    Bytes atr = {0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14};
    std::chrono::milliseconds apdu_latency{0};  // slept for every APDU
    std::chrono::milliseconds sign_latency{0};  // slept for every signature
    std::string pki_dir = JPKI_TEST_PKI_DIR;    // auth-cert.der, auth-key.pem, ... (see files.cpp)
    std::string state_file;                     // empty: counters and PINs live in memory only
    std::string trace_file;                     // empty: no trace
    Hostility hostile;                          // off by default
};

}  // namespace jpki::vcard
