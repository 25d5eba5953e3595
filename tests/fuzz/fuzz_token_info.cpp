// Fuzz target: the token information the card layer reads at insertion: the EF 0006 label
// (JpkiApplet::probe, shown as the token's model) and the EF 0008 certificate flags
// (has_sign_certificate, which decides whether a signature slot has a token). Input: byte 0
// picks which; the rest is the card's raw answer (data + SW1 SW2) to that READ BINARY. Every
// SELECT is answered 9000, except that a SELECT of EF 0001 answers byte 1's choice.
//
// Asserted: probe() returns no card for an answer that is not 9000, shorter than a status
// word or longer than the 32 bytes asked for, and otherwise exactly the label without its
// trailing spaces and NULs (never throwing a CardError out of probe); has_sign_certificate()
// follows byte 0 of EF 0008 when it reads, and EF 0001's presence when not.
#include "scripted_connection.hpp"

#include "card/jpki_applet.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>

using jpki::Bytes;
using jpki::fuzz::require;

namespace {

class TokenInfoCard : public jpki::transport::Connection {
public:
    TokenInfoCard(std::span<const std::uint8_t> read_answer, bool ef_0001_present)
        : read_answer_(read_answer.begin(), read_answer.end()), ef_0001_present_(ef_0001_present) {}

    Bytes transmit(std::span<const std::uint8_t> command) override {
        require(jpki::fuzz::well_formed_command_apdu(command), "malformed command APDU");
        if (command[1] == 0xA4) {
            const bool ef_0001 = command.size() == 7 && command[2] == 0x02 && command[5] == 0x00 && command[6] == 0x01;
            return ef_0001 && !ef_0001_present_ ? Bytes{0x6A, 0x82} : Bytes{0x90, 0x00};
        }
        if (command[1] == 0xB0) {
            ++reads_;
            return read_answer_;
        }
        return {0x6D, 0x00};
    }
    void begin_transaction() override {}
    void end_transaction() noexcept override {}
    void reconnect() override {}
    void reset_card() override {}
    [[nodiscard]] Bytes atr() const override { return {0x3B, 0x00}; }
    [[nodiscard]] int reads() const noexcept { return reads_; }

private:
    Bytes read_answer_;
    bool ef_0001_present_;
    int reads_ = 0;
};

std::optional<std::string> expected_label(const Bytes& answer) {
    if (answer.size() < 2 || answer[answer.size() - 2] != 0x90 || answer.back() != 0x00) return std::nullopt;
    if (answer.size() - 2 > jpki::card::jpki_card_profile.token_label_length) return std::nullopt;
    std::string label(answer.begin(), answer.end() - 2);
    while (!label.empty() && (label.back() == ' ' || label.back() == '\0')) label.pop_back();
    return label;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const bool flags = (data[0] & 1) != 0;
    const bool ef_0001_present = (data[1] & 1) != 0;
    const Bytes answer(data + 2, data + size);
    TokenInfoCard card(answer, ef_0001_present);
    jpki::card::JpkiApplet applet(card);
    try {
        if (!flags) {
            const auto info = applet.probe();
            const auto expected = expected_label(answer);
            require(info.has_value() == expected.has_value(), "probe() accepts a bad EF 0006 answer or refuses a good one");
            if (info) require(info->label == *expected, "label differs from EF 0006 without padding");
        } else {
            const bool has = applet.has_sign_certificate();
            const bool read_ok = answer.size() >= 3 && answer[answer.size() - 2] == 0x90 && answer.back() == 0x00;
            require(has == (read_ok ? answer[0] != 0x00 : ef_0001_present), "has_sign_certificate() misreads EF 0008");
        }
    } catch (const jpki::card::CardError& e) {
        // probe() answers "no JPKI card" for any bad answer; only EF 0008 may throw.
        require(flags, "probe() let a CardError out");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        jpki::fuzz::fail("an exception other than CardError");
    }
    return 0;
}
