// The elementary files of the JPKI AP (docs/card.md, "Elementary files in the JPKI AP").
#pragma once

#include "rsa_key.hpp"

#include <jpki/vcard/config.hpp>

#include <cstdint>
#include <map>
#include <optional>

namespace jpki::vcard {

enum class FileKind {
    Binary,      // READ BINARY-able: certificates, token info, availability
    PrivateKey,  // EF 0017 / 001A: usable by COMPUTE DIGITAL SIGNATURE only
    PinFile,     // EF 0018 / 001B: target of VERIFY and CHANGE REFERENCE DATA
};

struct ElementaryFile {
    FileKind kind = FileKind::Binary;
    Bytes content;                   // Binary only
    std::optional<Pin> read_needs;   // Binary: PIN that must be verified to read (EF 0001)
    Pin pin = Pin::Auth;             // PrivateKey: PIN that unlocks it; PinFile: which PIN
    std::optional<RsaKey> key;       // PrivateKey only
};

namespace fid {
inline constexpr std::uint16_t sign_cert = 0x0001;
inline constexpr std::uint16_t sign_ca_cert = 0x0002;
inline constexpr std::uint16_t token_info = 0x0006;
inline constexpr std::uint16_t cert_availability = 0x0008;
inline constexpr std::uint16_t auth_cert = 0x000A;
inline constexpr std::uint16_t auth_ca_cert = 0x000B;
inline constexpr std::uint16_t auth_key = 0x0017;
inline constexpr std::uint16_t auth_pin = 0x0018;
inline constexpr std::uint16_t sign_key = 0x001A;
inline constexpr std::uint16_t sign_pin = 0x001B;
}  // namespace fid

using FileSystem = std::map<std::uint16_t, ElementaryFile>;

// Builds the JPKI AP's files from config.pki_dir: auth-cert.der, auth-key.pem, auth-ca.der,
// and (unless config.sign_cert is false) sign-cert.der, sign-key.pem; sign-ca.der always.
// Throws std::runtime_error naming the file that is missing or malformed.
FileSystem load_jpki_files(const CardConfig& config);

// Exposed for tests of the layout.
Bytes certificate_file(std::span<const std::uint8_t> der);  // DER + 0xFF filler
Bytes token_info();                                         // EF 0006, 160 bytes

}  // namespace jpki::vcard
