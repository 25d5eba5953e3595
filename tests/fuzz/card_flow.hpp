// The card-layer operations the response-APDU fuzz target runs, in the order of a normal
// session (probe, certificates, counters, login, signatures, random, PIN change). Shared with
// the seed generator, which records a real virtual card's answers to the same operations.
#pragma once

#include "card/jpki_applet.hpp"

#include <jpki/secure_bytes.hpp>
#include <jpki/transport.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace jpki::fuzz {

enum class Op : std::uint8_t {
    Probe,
    HasSignCertificate,
    ReadAuthCertificate,
    ReadAuthCaCertificate,
    ReadSignCaCertificate,
    TriesLeftAuth,
    TriesLeftSign,
    VerifyAuth,
    VerifySign,
    ReadSignCertificate,  // after VerifySign: EF 0001 needs the sign password
    SignAuth,
    SignSign,
    SignSignAgain,        // KeySelection::KeepPrevious
    SignPss,
    GetChallenge,
    ChangePinAuth,
    Count,
};

inline constexpr std::size_t op_count = static_cast<std::size_t>(Op::Count);
inline constexpr std::string_view fuzz_auth_pin = "1234";
inline constexpr std::string_view fuzz_sign_pin = "abc123";  // normalised to ABC123
inline constexpr std::string_view fuzz_new_auth_pin = "5678";
inline constexpr std::size_t challenge_length = 300;      // two GET CHALLENGEs: 256 + 44

// A SHA-256 DigestInfo's length (19 + 32): what TLS hands CKM_RSA_PKCS.
inline constexpr std::size_t digest_info_length = 51;

// What an operation returned (the fields that apply to it).
struct OpResult {
    std::optional<card::CardInfo> info;
    bool flag = false;
    Bytes bytes;
    int tries = -1;
};

// Runs one operation; card::CardError and transport::Error propagate.
inline OpResult run_op(card::JpkiApplet& applet, Op op) {
    using card::KeySelection;
    using card::PinRole;
    const card::RoleProfile& auth = applet.profile().role(card::PinRole::Auth);
    const card::RoleProfile& sign = applet.profile().role(card::PinRole::Sign);
    const Bytes digest_info(digest_info_length, 0x5A);
    const Bytes hash(card::pss_hash_length, 0xA5);
    OpResult r;
    switch (op) {
    case Op::Probe: r.info = applet.probe(); break;
    case Op::HasSignCertificate: r.flag = applet.has_sign_certificate(); break;
    case Op::ReadAuthCertificate: r.bytes = applet.read_certificate(auth.certificate); break;
    case Op::ReadAuthCaCertificate: r.bytes = applet.read_certificate(auth.ca_certificate); break;
    case Op::ReadSignCaCertificate: r.bytes = applet.read_certificate(sign.ca_certificate); break;
    case Op::TriesLeftAuth: r.tries = applet.tries_left(PinRole::Auth); break;
    case Op::TriesLeftSign: r.tries = applet.tries_left(PinRole::Sign); break;
    case Op::VerifyAuth: applet.verify(PinRole::Auth, SecureBytes(fuzz_auth_pin)); break;
    case Op::VerifySign:
        // With the final-try guard's check, as the token layer calls it.
        applet.verify(PinRole::Sign, SecureBytes(fuzz_sign_pin), [&r](int tries) { r.tries = tries; });
        break;
    case Op::ReadSignCertificate: r.bytes = applet.read_certificate(sign.certificate); break;
    case Op::SignAuth: r.bytes = applet.sign(PinRole::Auth, digest_info); break;
    case Op::SignSign: r.bytes = applet.sign(PinRole::Sign, digest_info); break;
    case Op::SignSignAgain: r.bytes = applet.sign(PinRole::Sign, digest_info, KeySelection::KeepPrevious); break;
    case Op::SignPss: r.bytes = applet.sign_pss_sha256(PinRole::Sign, hash); break;
    case Op::GetChallenge: r.bytes = applet.get_challenge(challenge_length); break;
    case Op::ChangePinAuth:
        applet.change_pin(PinRole::Auth, SecureBytes(fuzz_auth_pin), SecureBytes(fuzz_new_auth_pin));
        break;
    case Op::Count: break;
    }
    return r;
}

}  // namespace jpki::fuzz
