#include "applet.hpp"

#include "status_words.hpp"

#include <jpki/vcard/pin_format.hpp>

#include <openssl/rand.h>

#include <algorithm>
#include <thread>

namespace jpki::vcard {
namespace {

namespace ins {
inline constexpr std::uint8_t select = 0xA4;
inline constexpr std::uint8_t read_binary = 0xB0;
inline constexpr std::uint8_t verify = 0x20;
inline constexpr std::uint8_t change_reference_data = 0x24;
inline constexpr std::uint8_t compute_digital_signature = 0x2A;
inline constexpr std::uint8_t get_challenge = 0x84;
inline constexpr std::uint8_t manage_channel = 0x70;
}  // namespace ins

// docs/card.md, "Applications".
constexpr std::uint8_t jpki_aid[] = {0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01};
constexpr std::uint8_t kenmen_input_aid[] = {0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08};
constexpr std::uint8_t kenmen_check_aid[] = {0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02};
constexpr std::uint8_t isd_aid[] = {0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00};

bool equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    return std::ranges::equal(a, b);
}

// CLA/INS screening before any command logic. Only logical channel 0, no secure messaging,
// no chaining (docs/card.md: "Only logical channel 0"); COMPUTE DIGITAL SIGNATURE is the one
// proprietary-class command (CLA 80).
std::optional<std::uint16_t> check_class(std::uint8_t cla, std::uint8_t instruction) {
    if ((cla & 0x03) != 0 || (cla >= 0x40 && cla <= 0x7F)) return sw::logical_channel_not_supported;
    if (instruction == ins::manage_channel) return sw::logical_channel_not_supported;
    if ((cla & 0x0C) != 0) return sw::secure_messaging_not_supported;
    if ((cla & 0x10) != 0) return sw::chaining_not_supported;
    switch (instruction) {
    case ins::select:
    case ins::read_binary:
    case ins::verify:
    case ins::change_reference_data:
    case ins::get_challenge:
        return cla == 0x00 ? std::nullopt : std::optional<std::uint16_t>(sw::cla_not_supported);
    case ins::compute_digital_signature:
        return cla == 0x80 ? std::nullopt : std::optional<std::uint16_t>(sw::cla_not_supported);
    default:
        return sw::ins_not_supported;
    }
}

}  // namespace

Applet::Applet(const CardConfig& config, FileSystem files, const PersistentState& initial)
    : config_(config), files_(std::move(files)) {
    pin(Pin::Auth) = {initial.auth_pin, initial.auth_tries, auth_max_tries, false};
    pin(Pin::Sign) = {initial.sign_pin, initial.sign_tries, sign_max_tries, false};
}

void Applet::power_cycle() noexcept {
    application_ = Application::Isd;  // power-on default (docs/card.md, "Applications")
    current_ef_.reset();
    clear_verified();
}

void Applet::clear_verified() noexcept {
    for (auto& p : pins_) p.verified = false;
}

void Applet::persist() const {
    if (config_.state_file.empty()) return;
    save_state(config_.state_file, {pin(Pin::Auth).value, pin(Pin::Sign).value,
                                    pin(Pin::Auth).tries_left, pin(Pin::Sign).tries_left});
}

const ElementaryFile* Applet::current_file() const {
    if (!current_ef_) return nullptr;
    const auto it = files_.find(*current_ef_);
    return it == files_.end() ? nullptr : &it->second;
}

Bytes Applet::process(std::span<const std::uint8_t> apdu) {
    if (apdu.size() < 4) return status(sw::wrong_length);
    if (const auto refused = check_class(apdu[0], apdu[1])) return status(*refused);
    const auto command = parse_command(apdu, config_.extended_apdu);
    if (!command) return status(sw::wrong_length);
    switch (command->ins) {
    case ins::select: return select(*command);
    case ins::read_binary: return read_binary(*command);
    case ins::verify: return verify(*command);
    case ins::change_reference_data: return change_reference_data(*command);
    case ins::compute_digital_signature: return compute_digital_signature(*command);
    case ins::get_challenge: return get_challenge(*command);
    default: return status(sw::ins_not_supported);
    }
}

Bytes Applet::select(const Command& c) {
    switch (c.p1) {
    case 0x04: return select_application(c);
    case 0x02: return select_ef(c);
    // SELECT MF does not work on the card (docs/card.md: 00 A4 00 00 -> 6A86, 3F00 -> 6A82).
    case 0x00: return status(c.data.empty() ? sw::wrong_p1p2 : sw::file_not_found);
    default: return status(sw::wrong_p1p2);
    }
}

Bytes Applet::select_application(const Command& c) {
    if (c.p2 != 0x0C && c.p2 != 0x00) return status(sw::wrong_p1p2);
    if (c.data.empty()) return status(sw::wrong_length);
    if (equal(c.data, jpki_aid)) {
        // Re-selecting the JPKI AP: whether a real card drops verified PINs is unknown
        // (docs/card.md, "Security state" [?]), so it is a knob.
        if (application_ != Application::Jpki || config_.reselect_clears) clear_verified();
        application_ = Application::Jpki;
        current_ef_.reset();
        return status(sw::ok);
    }
    if (equal(c.data, kenmen_input_aid) || equal(c.data, kenmen_check_aid) || equal(c.data, isd_aid)) {
        // Another AP: JPKI security state is gone (docs/card.md, "Security state").
        clear_verified();
        application_ = equal(c.data, isd_aid) ? Application::Isd : Application::Other;
        current_ef_.reset();
        return status(sw::ok);
    }
    return status(sw::file_not_found);
}

Bytes Applet::select_ef(const Command& c) {
    if (c.p2 != 0x0C && c.p2 != 0x00) return status(sw::wrong_p1p2);
    if (c.data.size() != 2) return status(sw::wrong_length);
    // The other APs' files are not modelled: only the JPKI AP has EFs here.
    if (application_ != Application::Jpki) return status(sw::file_not_found);
    const auto id = static_cast<std::uint16_t>((c.data[0] << 8) | c.data[1]);
    if (!files_.contains(id)) return status(sw::file_not_found);  // keeps the current EF
    current_ef_ = id;  // verified PINs survive EF selection (docs/card.md [HW])
    return status(sw::ok);
}

Bytes Applet::read_binary(const Command& c) {
    const ElementaryFile* ef = nullptr;
    std::size_t offset = 0;
    if ((c.p1 & 0x80) != 0) {
        // Short EF identifier (ISO 7816-4): P1 = 80 | SFI, P2 = offset; the SFI is the EF number
        // (docs/card.md, "Longer reads"). Without it, 6A86 (P1-P2 incorrect), as for any P1 the
        // card does not know. Bits 6-7 must be 0; SFI 0 would mean the current EF.
        if (!config_.short_ef_id || (c.p1 & 0x60) != 0 || (c.p1 & 0x1F) == 0) return status(sw::wrong_p1p2);
        if (application_ != Application::Jpki) return status(sw::file_not_found);
        const auto id = static_cast<std::uint16_t>(c.p1 & 0x1F);
        const auto it = files_.find(id);
        if (it == files_.end()) return status(sw::file_not_found);
        current_ef_ = id;  // the EF read by SFI becomes the current one
        ef = &it->second;
        offset = c.p2;
    } else {
        ef = current_file();
        if (ef == nullptr) return status(sw::no_current_ef);
        offset = (std::size_t{c.p1 & 0x7Fu} << 8) | c.p2;
    }
    if (!c.le || !c.data.empty()) return status(sw::wrong_length);
    if (ef->kind != FileKind::Binary) return status(sw::security_not_satisfied);
    // EF 0001 needs the signature password (docs/card.md [HW]).
    if (ef->read_needs && !pin(*ef->read_needs).verified) return status(sw::security_not_satisfied);
    if (offset >= ef->content.size()) return status(sw::offset_outside_ef);
    const std::size_t n = std::min(*c.le, ef->content.size() - offset);
    return response(std::span(ef->content).subspan(offset, n), sw::ok);
}

std::optional<std::uint16_t> Applet::check_pin_file(Pin& which) const {
    const ElementaryFile* ef = current_file();
    if (ef == nullptr) return sw::no_current_ef;
    if (ef->kind != FileKind::PinFile) return sw::incompatible_file;
    which = ef->pin;
    return std::nullopt;
}

Bytes Applet::verify(const Command& c) {
    // Only the "select the PIN EF, then VERIFY P2 80" form; the P2 98/9B shortcuts one survey
    // reports are deliberately not accepted.
    if (c.p1 != 0x00 || c.p2 != 0x80) return status(sw::wrong_p1p2);
    if (c.le || c.data.size() > 16) return status(sw::wrong_length);
    Pin which = Pin::Auth;
    if (const auto refused = check_pin_file(which)) return status(*refused);
    PinRecord& p = pin(which);
    if (p.tries_left == 0) return status(sw::authentication_blocked);
    if (c.data.empty()) {
        // Tries left, spends none; answers 63Cx even right after a good VERIFY, so it cannot
        // tell "logged in" (docs/card.md [HW]).
        return status(static_cast<std::uint16_t>(sw::verify_failed | p.tries_left));
    }
    const std::string_view given(reinterpret_cast<const char*>(c.data.data()), c.data.size());
    if (given == p.value) {
        p.verified = true;
        if (p.tries_left != p.max_tries) {
            p.tries_left = p.max_tries;
            persist();
        }
        return status(sw::ok);
    }
    p.verified = false;
    --p.tries_left;
    persist();
    // The try that locks answers 63C0; later ones 6984 (above).
    return status(static_cast<std::uint16_t>(sw::verify_failed | p.tries_left));
}

Bytes Applet::compute_digital_signature(const Command& c) {
    if (c.p2 != 0x80) return status(sw::wrong_p1p2);  // P2 97/9A shortcuts not accepted
    const bool pss = c.p1 == 0x04;
    if (c.p1 != 0x00 && !(pss && config_.pss)) return status(sw::wrong_p1p2);
    const ElementaryFile* ef = current_file();
    if (ef == nullptr || ef->kind != FileKind::PrivateKey || !ef->key) {
        return status(sw::conditions_not_satisfied);
    }
    if (!pin(ef->pin).verified) return status(sw::security_not_satisfied);
    if (!c.le || c.data.empty()) return status(sw::wrong_length);
    // P1 00: 1..245 bytes, what PKCS#1 v1.5 type-1 padding leaves room for in RSA-2048.
    // P1 04: exactly a SHA-256 hash.
    if (pss ? c.data.size() != 32 : c.data.size() > 245) return status(sw::wrong_length);
    if (config_.sign_latency.count() > 0) std::this_thread::sleep_for(config_.sign_latency);
    const Bytes signature = pss ? ef->key->sign_pss_sha256(c.data) : ef->key->sign_pkcs1(c.data);
    return response(signature, sw::ok);
}

Bytes Applet::change_reference_data(const Command& c) {
    // Only P1 01 (new PIN alone, after a VERIFY of the old one); P1 00 would carry old+new.
    if (c.p1 != 0x01 || c.p2 != 0x80) return status(sw::wrong_p1p2);
    if (c.le) return status(sw::wrong_length);
    Pin which = Pin::Auth;
    if (const auto refused = check_pin_file(which)) return status(*refused);
    PinRecord& p = pin(which);
    if (!p.verified) return status(sw::security_not_satisfied);
    if (c.data.empty()) return status(sw::wrong_length);
    const std::string_view new_pin(reinterpret_cast<const char*>(c.data.data()), c.data.size());
    if (!valid_pin(which, new_pin)) return status(sw::wrong_data);
    p.value = std::string(new_pin);
    persist();
    return status(sw::ok);  // stays verified
}

Bytes Applet::get_challenge(const Command& c) {
    if (c.p1 != 0x00 || c.p2 != 0x00) return status(sw::wrong_p1p2);
    if (!c.le || !c.data.empty()) return status(sw::wrong_length);
    if (*c.le > 256) return status(sw::conditions_not_satisfied);  // extended: 6985 (docs/card.md)
    Bytes random(*c.le);
    if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
        return status(sw::no_diagnosis);
    }
    return response(random, sw::ok);
}

}  // namespace jpki::vcard
