#include "card/jpki_applet.hpp"

#include <algorithm>
#include <stdexcept>

namespace jpki::card {
namespace {

constexpr std::uint16_t sw_ok = 0x9000;
constexpr std::uint16_t sw_file_not_found = 0x6A82;
constexpr std::uint16_t sw_security_not_satisfied = 0x6982;
constexpr std::uint16_t sw_end_of_file = 0x6282;  // ISO 7816-4: fewer bytes than Le, all there is

transport::Connection& checked(const std::unique_ptr<transport::Connection>& connection) {
    if (!connection) throw std::invalid_argument("JpkiApplet needs a connection");
    return *connection;
}

[[noreturn]] void throw_invalid_response(const std::string& why) {
    throw CardError(CardError::Kind::InvalidResponse, 0, why);
}

// EF 0006 starts with a 32-byte label padded with spaces (docs/card.md).
std::string label_from(const Bytes& data) {
    std::string label(data.begin(), data.end());
    const auto end = label.find_last_not_of(std::string_view(" \0", 2));
    label.erase(end == std::string::npos ? 0 : end + 1);
    return label;
}

}  // namespace

JpkiApplet::JpkiApplet(transport::Connection& connection, ReadPlan plan, const CardProfile& profile) noexcept
    : profile_(profile), connection_(connection), read_plan_(plan) {}

JpkiApplet::JpkiApplet(std::unique_ptr<transport::Connection> connection, ReadPlan plan, const CardProfile& profile)
    : profile_(profile), owned_(std::move(connection)), connection_(checked(owned_)), read_plan_(plan) {}

JpkiApplet::TransactionScope::TransactionScope(JpkiApplet& applet)
    : applet_(applet), transaction_(applet.connection_) {
    ++applet_.depth_;
    applet_.ef_.reset();  // another program may have selected other EFs since our last transaction
    applet_.ap_selected_here_ = false;
}

JpkiApplet::TransactionScope::~TransactionScope() {
    --applet_.depth_;
    applet_.ef_.reset();
    applet_.ap_selected_here_ = false;
}

void JpkiApplet::forget_selection() noexcept {
    ap_selected_ = false;
    ap_selected_here_ = false;
    ef_.reset();
    signed_with_.reset();
}

void JpkiApplet::recover_from_reset() {
    // SCARD_W_RESET_CARD: the card was reset by someone; verified PINs are gone.
    forget_selection();
    ++security_epoch_;
    ++resets_seen_;
    // Another program may reset it again while we re-synchronise (SCardReconnect then
    // SCardStatus): that is the same situation once more, not an I/O failure.
    for (int attempt = 1;; ++attempt) {
        try {
            connection_.reconnect();
            return;
        } catch (const transport::CardReset&) {
            if (attempt == max_reset_attempts) throw;
        }
    }
}

void JpkiApplet::reset_card() {
    if (depth_ > 0) throw std::logic_error("JpkiApplet::reset_card inside a transaction");
    forget_selection();
    ++security_epoch_;
    try {
        connection_.reset_card();
    } catch (const transport::CardReset&) {
        // Another program reset the card at the same moment: its PINs are cleared all the same.
        // Our handle learns of it at its next exchange (recover_from_reset).
    }
    ++resets_seen_;  // only once the reset happened: until then a PIN may still be verified
}

void JpkiApplet::throw_security_state_lost(const std::string& why) {
    throw CardError(CardError::Kind::SecurityStateLost, 0, why + "; verified PINs must be presumed lost");
}

// ---- exchanges -------------------------------------------------------------------------------

Response JpkiApplet::exchange(std::span<const std::uint8_t> apdu) {
    Response r = parse_response(connection_.transmit(apdu));
    // 61xx "more data": only T=0 needs GET RESPONSE. Both JPKI ATRs seen offer T=1 only, so
    // this is defence for odd readers, bounded so a confused card cannot keep us here.
    for (int i = 0; r.sw1() == 0x61 && i < 16; ++i) {
        Response more = parse_response(connection_.transmit(command::get_response(r.sw2() == 0 ? max_le : r.sw2())));
        r.data.insert(r.data.end(), more.data.begin(), more.data.end());
        r.sw = more.sw;
    }
    return r;
}

Response JpkiApplet::exchange_secret(const SecureBytes& apdu) {
    secret_sent_ = true;  // from here on a reset must not make us send it again
    return exchange(apdu.view());
}

// ---- selection -------------------------------------------------------------------------------

void JpkiApplet::select_ap() {
    forget_selection();
    expect_ok(exchange(command::select_ap(profile_.aid)).sw, Instruction::Select, "SELECT AP");
    ap_selected_ = true;
    ap_selected_here_ = true;
}

void JpkiApplet::ensure_ap(Need need) {
    if (ap_selected_) return;
    // Selecting the AP may clear a verified PIN (docs/card.md "Security state" [?]), and an
    // unknown selection means the card may have been reset or moved: no login to rely on.
    if (need == Need::SecurityState) throw_security_state_lost("JPKI AP selection unknown");
    select_ap();
}

bool JpkiApplet::select_ef_if_present(Fid fid, Need need, OnFileNotFound on_not_found) {
    ensure_ap(need);
    if (ef_ == fid) return true;
    ef_.reset();
    signed_with_.reset();
    std::uint16_t sw = exchange(command::select_ef(fid)).sw;
    if (sw == sw_file_not_found && !ap_selected_here_ && on_not_found == OnFileNotFound::ReselectAp) {
        // The AP was remembered from an earlier transaction; another program may have moved the
        // card to another applet since (docs/design.md §3). Select ours again and retry once.
        select_ap();
        ++security_epoch_;
        sw = exchange(command::select_ef(fid)).sw;
        if (sw == sw_ok) {
            ef_ = fid;
            if (need == Need::SecurityState) throw_security_state_lost("JPKI AP had to be selected again");
            return true;
        }
    }
    if (sw == sw_file_not_found) return false;
    expect_ok(sw, Instruction::Select, "SELECT EF");
    ef_ = fid;
    return true;
}

void JpkiApplet::select_ef(Fid fid, Need need) {
    if (!select_ef_if_present(fid, need)) throw error_from_status(sw_file_not_found, "SELECT EF");
}

// ---- operations ------------------------------------------------------------------------------

std::optional<Response> JpkiApplet::read_small_file(const ReadableFile& file, std::size_t length,
                                                    OnFileNotFound on_not_found) {
    if (read_plan_.use_short_ef_id()) {
        ensure_ap(Need::Nothing);
        // A read by short EF identifier may make that EF the current one (ISO 7816-4) or not.
        ef_.reset();
        signed_with_.reset();
        Response r = exchange(command::read_binary_short_ef(file.sfi, 0, length));
        if (r.ok()) {
            read_plan_.short_ef_id_answered(true);
            return r;
        }
        // 6A82 says the file is absent (EF 0008 is known from one survey only) or the card is in
        // another AP: SELECT EF below tells which; it says nothing about short EF identifiers.
        if (r.sw != sw_file_not_found) read_plan_.short_ef_id_answered(false);
    }
    if (!select_ef_if_present(file.fid, Need::Nothing, on_not_found)) return std::nullopt;
    return exchange(command::read_binary(0, length));
}

std::optional<CardInfo> JpkiApplet::probe() {
    return run([&]() -> std::optional<CardInfo> {
        // Detect by SELECT AID + EF 0006, not by ATR (docs/card.md "Applications").
        // Any card answer that breaks ISO 7816-4 here (no status word, more than the 32 bytes
        // asked for) means "not a JPKI card we can use", like a refused AID: no token.
        try {
            select_ap();
            const std::size_t label_length = profile_.token_label_length;
            const std::optional<Response> label =
                read_small_file(profile_.token_info, label_length, OnFileNotFound::ReselectAp);
            if (!label || !label->ok() || label->data.size() > label_length) return std::nullopt;
            return CardInfo{label_from(label->data)};
        } catch (const CardError&) {
            return std::nullopt;
        }
    });
}

bool JpkiApplet::has_sign_certificate() {
    return run([&] {
        // EF 0008: byte 0 signing certificate, byte 1 authentication certificate; 8F present, 00
        // absent (docs/card.md [ONE]). Without EF 0008, EF 0001's presence tells. EF 0008 itself
        // is reported by one survey only, so its 6A82 is taken as "no such EF", not as "another
        // program moved the card" (which would re-select the AP and drop logins); a moved card
        // still shows at the EF 0001 select, which follows the usual rule.
        const RoleProfile& sign = profile_.role(PinRole::Sign);
        const ReadableFile& flags_file = profile_.certificate_flags;
        const std::optional<Response> flags = read_small_file(flags_file, flags_file.max_size, OnFileNotFound::Absent);
        if (flags && flags->ok() && flags->data.size() > sign.certificate_flag)
            return flags->data[sign.certificate_flag] != 0x00;
        return select_ef_if_present(sign.certificate.fid, Need::Nothing);
    });
}

Response JpkiApplet::read_certificate_head(const ReadableFile& file, Need need) {
    bool file_not_found_by_id = false;  // the short EF identifier met 6A82: try SELECT EF
    for (;;) {
        ReadPlan::Form form = read_plan_.certificate_form();
        if (form == ReadPlan::Form::ShortEfIdExtended && file_not_found_by_id) form = ReadPlan::Form::SelectExtended;
        if (form == ReadPlan::Form::SelectShort) {
            select_ef(file.fid, need);
            Response head = exchange(command::read_binary(0, max_le));
            // A refused long read (a length complaint, say) gets the 4-byte read others use; a
            // security refusal (EF 0001 before the sign password) would only be refused again.
            if (!head.ok() && head.sw != sw_security_not_satisfied) head = exchange(command::read_binary(0, 4));
            return head;
        }
        Bytes apdu;
        if (form == ReadPlan::Form::ShortEfIdExtended) {
            ensure_ap(need);
            ef_.reset();  // see read_small_file
            signed_with_.reset();
            apdu = command::read_binary_whole_short_ef(file.sfi);
        } else {
            select_ef(file.fid, need);
            apdu = command::read_binary_whole();
        }
        Response r;
        try {
            r = exchange(apdu);
        } catch (const transport::ExtendedLengthRefused&) {
            // The reader would not carry it; the card saw nothing, the transaction goes on.
            read_plan_.refused_by_reader();
            continue;
        }
        if (r.sw == sw_end_of_file) r.sw = sw_ok;
        if (r.ok()) {
            read_plan_.worked(form);
            return r;
        }
        // EF 0001 before the sign password: every form gets the same answer.
        if (r.sw == sw_security_not_satisfied) return r;
        if (r.sw == sw_file_not_found && form == ReadPlan::Form::ShortEfIdExtended) {
            file_not_found_by_id = true;  // absent, or the card is in another AP: SELECT EF tells
            continue;
        }
        read_plan_.refused_by_card(form);
    }
}

Bytes JpkiApplet::read_certificate(const ReadableFile& certificate) { return read_certificate(certificate.fid); }

Bytes JpkiApplet::read_certificate(Fid certificate_ef) {
    const ReadableFile* file = profile_.certificate_file(certificate_ef);
    if (file == nullptr) throw std::invalid_argument("not a certificate EF");
    const Need need = file->access == ReadAccess::AfterPin ? Need::SecurityState : Need::Nothing;
    return run([&] {
        // docs/card.md "Certificate length": 4 bytes at offset 0 are 30 82 hh ll; the DER object
        // is 4 + hhll bytes (filler follows it).
        const Response head = read_certificate_head(*file, need);
        expect_ok(head.sw, Instruction::ReadBinary, "READ BINARY");
        if (head.data.size() < 4 || head.data[0] != 0x30 || head.data[1] != 0x82) {
            throw_invalid_response("certificate EF does not start with 30 82 hh ll");
        }
        const std::size_t body = (std::size_t{head.data[2]} << 8) | head.data[3];
        const std::size_t total = 4 + body;
        // DER uses 82 only for lengths >= 256; READ BINARY offsets stop at 7FFF.
        if (body < 0x100 || total > file->max_size) throw_invalid_response("certificate length out of range");
        Bytes der(head.data.begin(), head.data.begin() + static_cast<std::ptrdiff_t>(std::min(head.data.size(), total)));
        der.reserve(total);
        // The rest in chunks of up to 256 bytes (a short first read, or a card that answered an
        // extended Le with less than the whole file).
        if (der.size() < total) select_ef(certificate_ef, need);  // nothing sent if still current
        while (der.size() < total) {
            const std::size_t want = std::min(total - der.size(), max_le);
            const Response chunk = exchange(command::read_binary(static_cast<std::uint16_t>(der.size()), want));
            expect_ok(chunk.sw, Instruction::ReadBinary, "READ BINARY");
            if (chunk.data.empty() || chunk.data.size() > want) throw_invalid_response("READ BINARY size");
            der.insert(der.end(), chunk.data.begin(), chunk.data.end());
        }
        return der;
    });
}

int JpkiApplet::read_tries_left(PinRole role) {
    // The empty VERIFY answers 63Cx and spends no try (docs/card.md "Commands").
    const Response r = exchange(command::verify_status());
    if (r.sw == sw_ok) return profile_.role(role).pin.max_tries;  // verified: a good VERIFY refills it
    if ((r.sw & 0xFFF0) == 0x63C0) return r.sw & 0x0F;
    if (r.sw == 0x6984 || r.sw == 0x6983) return 0;
    throw error_from_status(r.sw, Instruction::Verify, "VERIFY (tries left)");
}

int JpkiApplet::tries_left(PinRole role) {
    return run([&] {
        select_ef(profile_.role(role).pin_fid, Need::Nothing);
        return read_tries_left(role);
    });
}

void JpkiApplet::verify_selected_pin(PinRole role, const SecureBytes& normalised_pin, const TriesCheck& check) {
    // docs/design.md §3: select the AID right before a VERIFY, so a PIN can never land in another
    // applet's PIN file; an AP this transaction selected itself is still current.
    if (!ap_selected_here_) select_ap();
    select_ef(profile_.role(role).pin_fid, Need::Nothing);
    if (check) check(read_tries_left(role));
    const SecureBytes apdu = command::verify(normalised_pin);
    expect_ok(exchange_secret(apdu).sw, Instruction::Verify, "VERIFY");
}

void JpkiApplet::verify(PinRole role, const SecureBytes& pin, const TriesCheck& check) {
    const SecureBytes normalised = normalise_pin(profile_.role(role).pin, pin.view());  // before any APDU
    run([&] { verify_selected_pin(role, normalised, check); });
}

void JpkiApplet::change_pin(PinRole role, const SecureBytes& old_pin, const SecureBytes& new_pin,
                            const TriesCheck& check) {
    const SecureBytes old_normalised = normalise_pin(profile_.role(role).pin, old_pin.view());  // before any APDU
    const SecureBytes new_normalised = normalise_pin(profile_.role(role).pin, new_pin.view());
    run([&] {
        verify_selected_pin(role, old_normalised, check);
        const SecureBytes apdu = command::change_reference_data(new_normalised);
        expect_ok(exchange_secret(apdu).sw, Instruction::ChangeReferenceData, "CHANGE REFERENCE DATA");
    });
}

Bytes JpkiApplet::compute_digital_signature(PinRole key, std::span<const std::uint8_t> data,
                                            command::SignatureFormat format, KeySelection selection) {
    // The profile's limits, checked before any APDU (docs/card.md "Sign").
    const SignatureFormatSpec* spec = profile_.role(key).signature_format(format);
    if (spec == nullptr)
        throw CardError(CardError::Kind::FunctionNotSupported, 0, "the card takes no such signature format for this key");
    if (data.size() < spec->min_input || data.size() > spec->max_input) {
        throw CardError(CardError::Kind::WrongLength, 0,
                        "sign input must be " + std::to_string(spec->min_input) + ".." +
                            std::to_string(spec->max_input) + " bytes for this format");
    }
    const Fid key_fid = profile_.role(key).key.fid;
    return run([&] {
        const bool keep = selection == KeySelection::KeepPrevious && ap_selected_ && signed_with_ == key_fid;
        if (!keep) select_ef(key_fid, Need::SecurityState);
        Response r = exchange(command::compute_digital_signature(data, format));
        // The key EF stays the card's current EF until someone selects another. Also after the
        // card refused the format (6A86, 6700: ISO 7816-4 checking errors leave the current EF
        // as it was), so a refused PSS proof costs the next signature no SELECT; after other
        // errors (6982...) nothing is kept. KeepPrevious callers check every signature, so a
        // card that behaves otherwise costs a retry, never a wrong result.
        if (r.sw == 0x9000 || r.sw == 0x6A86 || r.sw == 0x6700) signed_with_ = key_fid;
        else signed_with_.reset();
        expect_ok(r.sw, Instruction::ComputeDigitalSignature, "COMPUTE DIGITAL SIGNATURE");
        if (r.data.empty()) throw_invalid_response("empty signature");
        return std::move(r.data);
    });
}

Bytes JpkiApplet::sign(PinRole key, std::span<const std::uint8_t> input, KeySelection selection) {
    return compute_digital_signature(key, input, command::SignatureFormat::Pkcs1V15, selection);
}

Bytes JpkiApplet::sign_pss_sha256(PinRole key, std::span<const std::uint8_t> hash, KeySelection selection) {
    return compute_digital_signature(key, hash, command::SignatureFormat::PssSha256, selection);
}

Bytes JpkiApplet::get_challenge(std::size_t n) {
    if (n == 0) return {};
    return run([&] {
        if (!ap_selected_) select_ap();
        Bytes out;
        out.reserve(n);
        while (out.size() < n) {
            const std::size_t want = std::min(n - out.size(), max_le);
            const Response r = exchange(command::get_challenge(want));
            expect_ok(r.sw, Instruction::GetChallenge, "GET CHALLENGE");
            if (r.data.size() != want) throw_invalid_response("GET CHALLENGE size");
            out.insert(out.end(), r.data.begin(), r.data.end());
        }
        return out;
    });
}

}  // namespace jpki::card
