// What the module knows of a card, as one declarative table (docs/card.md "Applications",
// "Elementary files", "Commands"; tags [HW]/[ONE]/[?] as in its legend): the application's AID,
// its files, and per PIN role the PIN and its rules, the key, the certificates and the
// signature formats the card accepts for that key. JpkiApplet reads every FID and limit from a
// CardProfile, and the token layer and `jpki` name files only through it, so a next-generation
// card (ECDSA P-384, reorganised applications: docs/design.md §6) is a second profile, not edits
// across layers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace jpki::card {

using Fid = std::uint16_t;  // a 2-byte file identifier, as in SELECT EF 00 A4 02 0C 02 <FID>

// The card's two PINs and what each unlocks. AuthPin: user authentication; SignPin: the
// signature password. The value is the index into CardProfile::roles.
enum class PinRole : std::uint8_t { Auth = 0, Sign = 1 };

// Characters a PIN may hold (ASCII; checked on the host before any APDU, docs/design.md §3).
enum class PinAlphabet : std::uint8_t {
    Digits,             // 0-9
    DigitsUpperLetters  // 0-9 A-Z
};

struct PinRules {
    std::size_t min_length;  // bytes (= ASCII characters)
    std::size_t max_length;
    int max_tries;           // the card's retry counter when full
    PinAlphabet alphabet;
    // a-z accepted and sent upper-cased, as the official client does (only meaningful for an
    // alphabet with letters).
    bool upper_cases_letters;
};

// Whether reading a file needs the role's PIN verified first.
enum class ReadAccess : std::uint8_t { Free, AfterPin };

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
    ReadAccess access;
};

inline constexpr std::size_t max_certificate_size = 0x8000;

enum class KeyAlgorithm : std::uint8_t { Rsa, Ecdsa };

// A private key on the card: COMPUTE DIGITAL SIGNATURE uses it once its EF is selected.
struct CardKey {
    Fid fid;
    KeyAlgorithm algorithm;
    std::size_t bits;  // RSA: modulus length; ECDSA: the curve's order length
};

namespace command {
// COMPUTE DIGITAL SIGNATURE P1 (docs/card.md "Sign").
enum class SignatureFormat : std::uint8_t {
    Pkcs1V15 = 0x00,   // card pads 1..245 bytes (a DigestInfo) with PKCS#1 v1.5 type 1 [HW]
    PssSha256 = 0x04,  // RSASSA-PSS over a 32-byte SHA-256 hash [ONE]
};
}  // namespace command

// How far the module may rely on a format: every card of the profile, or only a card that has
// shown it (issue 12: advertised per card once a signature verified, never on hearsay).
enum class FormatSupport : std::uint8_t { EveryCard, ProvenPerCard };

// One signature format the card accepts for a key, and the input it takes (bytes, inclusive).
struct SignatureFormatSpec {
    command::SignatureFormat format;
    std::size_t min_input;
    std::size_t max_input;
    FormatSupport support;
};

// Everything that belongs to one PIN role.
struct RoleProfile {
    PinRole role;
    Fid pin_fid;
    PinRules pin;
    CardKey key;
    ReadableFile certificate;     // the key's certificate
    ReadableFile ca_certificate;  // its issuer's certificate
    // The byte of CardProfile::certificate_flags telling whether `certificate` is on the card.
    std::size_t certificate_flag;
    std::span<const SignatureFormatSpec> signature_formats;

    // The row for `format`, or nullptr when the card does not take it for this key.
    [[nodiscard]] constexpr const SignatureFormatSpec* signature_format(command::SignatureFormat format) const {
        for (const SignatureFormatSpec& spec : signature_formats)
            if (spec.format == format) return &spec;
        return nullptr;
    }
};

struct CardProfile {
    std::string_view name;
    std::span<const std::uint8_t> aid;
    // Read by probe(): the token label at its start, space padded.
    ReadableFile token_info;
    std::size_t token_label_length;
    // One byte per certificate: 00 absent, anything else present [ONE].
    ReadableFile certificate_flags;
    std::array<RoleProfile, 2> roles;  // indexed by PinRole

    [[nodiscard]] constexpr const RoleProfile& role(PinRole r) const { return roles.at(static_cast<std::size_t>(r)); }
    // The certificate or CA certificate row of any role whose EF is `fid`; nullptr for any other file.
    [[nodiscard]] constexpr const ReadableFile* certificate_file(Fid fid) const {
        for (const RoleProfile& r : roles) {
            if (r.certificate.fid == fid) return &r.certificate;
            if (r.ca_certificate.fid == fid) return &r.ca_certificate;
        }
        return nullptr;
    }
};

// ---- The JPKI applet of the My Number Card (公的個人認証AP) ------------------------------------

// docs/card.md "Applications" [HW].
inline constexpr std::array<std::uint8_t, 10> jpki_aid = {0xD3, 0x92, 0xF0, 0x00, 0x26,
                                                          0x01, 0x00, 0x00, 0x00, 0x01};

// P1 00: the card adds PKCS#1 v1.5 type-1 padding to 1..245 bytes (2048-bit modulus, 256 bytes,
// less 11 of padding) [HW]. P1 04: RSASSA-PSS (MGF1-SHA-256, salt 32 presumed) over exactly one
// SHA-256 hash, reported by one survey [ONE]: a card must prove it (issue 12).
inline constexpr std::size_t pss_hash_length = 32;
inline constexpr std::array<SignatureFormatSpec, 2> jpki_rsa2048_formats = {{
    {.format = command::SignatureFormat::Pkcs1V15, .min_input = 1, .max_input = 245,
     .support = FormatSupport::EveryCard},
    {.format = command::SignatureFormat::PssSha256, .min_input = pss_hash_length, .max_input = pss_hash_length,
     .support = FormatSupport::ProvenPerCard},
}};

inline constexpr CardProfile jpki_card_profile{
    .name = "JPKI",
    .aid = jpki_aid,
    // EF 0006: 32-byte space-padded label first (JPKIAPICCTOKEN2), free [HW]; 160 bytes [ONE].
    .token_info = {.fid = 0x0006, .sfi = 0x06, .max_size = 160, .access = ReadAccess::Free},
    .token_label_length = 32,
    // EF 0008: 3 bytes, [0] sign certificate, [1] auth certificate; 8F present, 00 absent [ONE].
    .certificate_flags = {.fid = 0x0008, .sfi = 0x08, .max_size = 3, .access = ReadAccess::Free},
    .roles = {{
        {
            .role = PinRole::Auth,
            // EF 0018: exactly 4 digits, 3 tries [HW].
            .pin_fid = 0x0018,
            .pin = {.min_length = 4, .max_length = 4, .max_tries = 3, .alphabet = PinAlphabet::Digits,
                    .upper_cases_letters = false},
            // EF 0017: RSA-2048, AuthPin verified [HW].
            .key = {.fid = 0x0017, .algorithm = KeyAlgorithm::Rsa, .bits = 2048},
            // EF 000A / 000B: free [HW].
            .certificate = {.fid = 0x000A, .sfi = 0x0A, .max_size = max_certificate_size, .access = ReadAccess::Free},
            .ca_certificate = {.fid = 0x000B, .sfi = 0x0B, .max_size = max_certificate_size,
                               .access = ReadAccess::Free},
            .certificate_flag = 1,
            .signature_formats = jpki_rsa2048_formats,
        },
        {
            .role = PinRole::Sign,
            // EF 001B: 6..16 of 0-9 A-Z, 5 tries [HW]; a-z upper-cased as the official client does.
            .pin_fid = 0x001B,
            .pin = {.min_length = 6, .max_length = 16, .max_tries = 5, .alphabet = PinAlphabet::DigitsUpperLetters,
                    .upper_cases_letters = true},
            // EF 001A: RSA-2048, SignPin verified [HW].
            .key = {.fid = 0x001A, .algorithm = KeyAlgorithm::Rsa, .bits = 2048},
            // EF 0001: the sign password verified, else 6982 [HW]; EF 0002: free [HW].
            .certificate = {.fid = 0x0001, .sfi = 0x01, .max_size = max_certificate_size,
                            .access = ReadAccess::AfterPin},
            .ca_certificate = {.fid = 0x0002, .sfi = 0x02, .max_size = max_certificate_size,
                               .access = ReadAccess::Free},
            .certificate_flag = 0,
            .signature_formats = jpki_rsa2048_formats,
        },
    }},
};

}  // namespace jpki::card
