// Fuzz target: the card layer (JpkiApplet, parse_response, status words -> CardError) against
// answers that come from the fuzz input (ScriptedConnection). Input: byte 0 picks the first
// operation of card_flow.hpp's list (the rest follow in order); then the answer script.
//
// Asserted, beyond "no crash": only card::CardError and transport::Error come out, PIN kinds only
// from operations that send a PIN, length / function kinds only from signatures; every APDU is
// well-formed and inside one transaction, which is closed after each operation; a PIN goes out
// only in the VERIFY / CHANGE REFERENCE DATA of the operation that was given it, at most once,
// normalised, right after SELECT AP and SELECT of that PIN's EF; operations that rely on a
// verified PIN send nothing but SELECTs once they have had to select the AP; results keep their
// contracts (certificate DER length from its header, GET CHALLENGE length, counters 0..15,
// labels without padding).
// JPKI_FUZZ_TRACE=1 prints each operation's APDUs (to triage a crash input).
#include "card_flow.hpp"
#include "scripted_connection.hpp"

#include "card/jpki_applet.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

using jpki::Bytes;
using jpki::card::CardError;
using jpki::fuzz::Op;
using jpki::fuzz::require;

namespace {

bool is_select_ap(const Bytes& apdu) { return apdu.size() >= 4 && apdu[1] == 0xA4 && apdu[2] == 0x04; }
bool is_select(const Bytes& apdu) { return apdu.size() >= 2 && apdu[1] == 0xA4; }
bool carries_pin(const Bytes& apdu) { return apdu.size() > 5 && (apdu[1] == 0x20 || apdu[1] == 0x24); }

bool is_select_ef(const Bytes& apdu, jpki::card::Fid fid) {
    return apdu.size() == 7 && apdu[1] == 0xA4 && apdu[2] == 0x02 && apdu[4] == 2 && apdu[5] == (fid >> 8) &&
           apdu[6] == (fid & 0xFF);
}

bool data_is(const Bytes& apdu, std::string_view text) {
    return apdu.size() == 5 + text.size() && apdu[4] == text.size() &&
           std::equal(text.begin(), text.end(), apdu.begin() + 5);
}

bool relies_on_pin(Op op) {
    return op == Op::ReadSignCertificate || op == Op::SignAuth || op == Op::SignSign || op == Op::SignSignAgain ||
           op == Op::SignPss;
}

// The PIN commands of one operation: where they may appear and what they carry.
void check_pin_commands(Op op, const std::vector<Bytes>& sent) {
    std::size_t verifies = 0, changes = 0;
    for (std::size_t i = 0; i < sent.size(); ++i) {
        if (!carries_pin(sent[i])) continue;
        const bool verify = sent[i][1] == 0x20;
        if (verify) {
            ++verifies;
            const bool auth = op == Op::VerifyAuth || op == Op::ChangePinAuth;
            require(auth || op == Op::VerifySign, "PIN sent by an operation that was given none");
            require(data_is(sent[i], auth ? "1234" : "ABC123"), "VERIFY does not carry the normalised PIN");
            // The last SELECT before it: the PIN's EF; and an AP SELECT earlier in the operation.
            const auto last_select = std::find_if(sent.rbegin() + static_cast<std::ptrdiff_t>(sent.size() - i),
                                                  sent.rend(), is_select);
            require(last_select != sent.rend() &&
                        is_select_ef(*last_select, jpki::card::jpki_card_profile.role(auth ? jpki::card::PinRole::Auth : jpki::card::PinRole::Sign).pin_fid),
                    "VERIFY not right after SELECT of its PIN EF");
            require(std::any_of(sent.begin(), sent.begin() + static_cast<std::ptrdiff_t>(i), is_select_ap),
                    "VERIFY without SELECT AP before it");
        } else {
            ++changes;
            require(op == Op::ChangePinAuth, "CHANGE REFERENCE DATA outside change_pin");
            require(verifies == 1, "CHANGE REFERENCE DATA without the VERIFY of the old PIN");
            require(data_is(sent[i], "5678"), "CHANGE REFERENCE DATA does not carry the new PIN");
        }
    }
    require(verifies <= 1 && changes <= 1, "a PIN sent twice in one operation");
}

void check_result(Op op, const jpki::fuzz::OpResult& r) {
    switch (op) {
    case Op::Probe:
        if (r.info) {
            const std::string& label = r.info->label;
            require(label.empty() || (label.back() != ' ' && label.back() != '\0'), "label keeps its padding");
        }
        break;
    case Op::ReadAuthCertificate:
    case Op::ReadAuthCaCertificate:
    case Op::ReadSignCaCertificate:
    case Op::ReadSignCertificate: {
        const Bytes& der = r.bytes;
        require(der.size() >= 4 + 0x100 && der.size() <= 0x8000, "certificate size out of range");
        require(der[0] == 0x30 && der[1] == 0x82, "certificate without its 30 82 header");
        require(der.size() == 4 + ((std::size_t{der[2]} << 8) | der[3]), "certificate size != its header");
        break;
    }
    case Op::TriesLeftAuth:
    case Op::TriesLeftSign: require(r.tries >= 0 && r.tries <= 15, "tries_left out of 0..15"); break;
    case Op::VerifySign: require(r.tries >= -1 && r.tries <= 15, "counter given to the check out of 0..15"); break;
    case Op::SignAuth:
    case Op::SignSign:
    case Op::SignSignAgain:
    case Op::SignPss: require(!r.bytes.empty(), "empty signature returned"); break;
    case Op::GetChallenge: require(r.bytes.size() == jpki::fuzz::challenge_length, "GET CHALLENGE length"); break;
    default: break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::size_t first = data[0] % jpki::fuzz::op_count;
    jpki::fuzz::ScriptedConnection connection({data + 1, size - 1});
    jpki::card::JpkiApplet applet(connection);
    for (std::size_t i = first; i < jpki::fuzz::op_count; ++i) {
        const Op op = static_cast<Op>(i);
        connection.clear_sent();
        try {
            check_result(op, jpki::fuzz::run_op(applet, op));
        } catch (const CardError& e) {
            require(e.kind() != CardError::Kind::PinLengthOutOfRange &&
                        e.kind() != CardError::Kind::PinInvalidCharacter,
                    "a valid PIN refused by the policy");
            if (e.kind() == CardError::Kind::PinIncorrect) require(e.tries_left() >= 1 && e.tries_left() <= 15, "PinIncorrect tries");
            if (e.kind() == CardError::Kind::PinLocked) require(e.tries_left() == 0, "PinLocked tries");
            // Status words mean something only for their own commands (errors.hpp).
            if (e.kind() == CardError::Kind::PinIncorrect || e.kind() == CardError::Kind::PinLocked)
                require(op == Op::VerifyAuth || op == Op::VerifySign || op == Op::ChangePinAuth,
                        "a PIN status from an operation that sent no PIN");
            if (e.kind() == CardError::Kind::WrongLength || e.kind() == CardError::Kind::FunctionNotSupported)
                require(op == Op::SignAuth || op == Op::SignSign || op == Op::SignSignAgain || op == Op::SignPss,
                        "a length / function complaint from an operation that does not sign");
        } catch (const jpki::transport::Error&) {
            // the script ended, or it asked for a reset / removal
        } catch (const std::exception& e) {
            std::fprintf(stderr, "unexpected exception: %s\n", e.what());
            jpki::fuzz::fail("an exception other than CardError / transport::Error");
        }
        if (std::getenv("JPKI_FUZZ_TRACE") != nullptr) {  // triage: what each operation sent
            std::fprintf(stderr, "op %zu:", i);
            for (const Bytes& apdu : connection.sent()) {
                std::fprintf(stderr, " ");
                for (const std::uint8_t b : apdu) std::fprintf(stderr, "%02X", b);
            }
            std::fprintf(stderr, "\n");
        }
        require(connection.open_transactions() == 0, "transaction left open");
        check_pin_commands(op, connection.sent());
        if (relies_on_pin(op)) {
            // The AP may be re-selected (an EF select answered 6A82: another program moved the
            // card), but then only the EF select is retried and the operation ends in
            // SecurityStateLost: no SIGN / READ BINARY after an AP selection.
            const auto& sent = connection.sent();
            const auto ap = std::find_if(sent.begin(), sent.end(), is_select_ap);
            require(std::all_of(ap, sent.end(),
                                [](const Bytes& a) { return is_select(a) || (a.size() >= 2 && a[1] == 0xC0); }),
                    "a PIN-dependent command after SELECT AP");
        }
        // 16 GET RESPONSEs at most per command; a certificate is at most 128 READ BINARYs + 2.
        require(connection.sent().size() <= std::size_t{17} * 140, "unbounded APDU exchange");
    }
    return 0;
}
