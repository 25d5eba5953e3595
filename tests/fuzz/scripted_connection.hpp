// A transport::Connection whose answers come from a fuzz input (the card layer's fuzz targets).
//
// Script format: a sequence of records, one per transmit(): 2 bytes big-endian length, then that
// many bytes of answer (data + SW1 SW2, or anything). Lengths FFFF, FFFE and FFFD carry no bytes
// and make transmit() throw transport::CardReset, CardRemoved and ServiceUnavailable; FFFC
// throws transport::ExtendedLengthRefused for an extended command (a reader that refuses it) and
// CardRemoved for a short one, as the PC/SC transport would. When the
// script ends, transmit() throws CardRemoved, so every operation terminates.
//
// It also checks what the card layer sends: every command APDU is a well-formed APDU
// (ISO 7816-4 cases 1-4, short or extended) and goes out inside exactly one open transaction.
#pragma once

#include <jpki/transport.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

namespace jpki::fuzz {

// Stops the run with a message: libFuzzer records the input that led here.
[[noreturn]] inline void fail(const char* what) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
}

inline void require(bool condition, const char* what) {
    if (!condition) fail(what);
}

// Whether `apdu` is a command APDU of ISO 7816-4 case 1, 2, 3 or 4, short (Lc 1..255, Le byte
// any) or extended (a 00 byte, then 2-byte Lc 1..65535 and/or 2-byte Le): the card layer sends
// extended READ BINARYs where card and reader take them (docs/card.md "Longer reads").
inline bool well_formed_command_apdu(std::span<const std::uint8_t> apdu) {
    if (apdu.size() < 4) return false;
    if (apdu.size() <= 5) return true;  // case 1, case 2S
    if (apdu[4] != 0) {
        const std::size_t lc = apdu[4];
        return apdu.size() == 5 + lc || apdu.size() == 6 + lc;  // case 3S, case 4S
    }
    if (apdu.size() == 7) return true;  // case 2E: 00 Le1 Le2
    const std::size_t lc = (std::size_t{apdu[5]} << 8) | apdu[6];
    return lc != 0 && (apdu.size() == 7 + lc || apdu.size() == 9 + lc);  // case 3E, case 4E
}

class ScriptedConnection : public transport::Connection {
public:
    explicit ScriptedConnection(std::span<const std::uint8_t> script) : script_(script) {}

    Bytes transmit(std::span<const std::uint8_t> command) override {
        require(well_formed_command_apdu(command), "malformed command APDU");
        require(open_ == 1, "APDU sent outside a transaction");
        sent_.emplace_back(command.begin(), command.end());
        if (script_.size() - pos_ < 2) throw transport::CardRemoved("script ended");
        const std::size_t length = (std::size_t{script_[pos_]} << 8) | script_[pos_ + 1];
        pos_ += 2;
        if (length == 0xFFFF) throw transport::CardReset("scripted reset");
        if (length == 0xFFFE) throw transport::CardRemoved("scripted removal");
        if (length == 0xFFFD) throw transport::ServiceUnavailable("scripted service loss");
        if (length == 0xFFFC) {
            if (transport::is_extended_length(command)) throw transport::ExtendedLengthRefused("scripted reader refusal");
            throw transport::CardRemoved("scripted removal");
        }
        const std::size_t n = std::min(length, script_.size() - pos_);
        Bytes answer(script_.begin() + static_cast<std::ptrdiff_t>(pos_),
                     script_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
        pos_ += n;
        return answer;
    }
    void begin_transaction() override {
        require(open_ == 0, "nested transaction");
        ++open_;
    }
    void end_transaction() noexcept override {
        if (open_ != 1) fail("transaction ended twice");
        --open_;
    }
    void reconnect() override { ++reconnects_; }
    void reset_card() override { ++reconnects_; }
    [[nodiscard]] Bytes atr() const override { return {0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14}; }

    [[nodiscard]] int open_transactions() const noexcept { return open_; }
    [[nodiscard]] const std::vector<Bytes>& sent() const noexcept { return sent_; }
    void clear_sent() { sent_.clear(); }

private:
    std::span<const std::uint8_t> script_;
    std::size_t pos_ = 0;
    int open_ = 0;
    int reconnects_ = 0;
    std::vector<Bytes> sent_;
};

// Appends one script record (the seed generator and the tests write scripts this way).
inline void append_record(Bytes& script, std::span<const std::uint8_t> answer) {
    script.push_back(static_cast<std::uint8_t>(answer.size() >> 8));
    script.push_back(static_cast<std::uint8_t>(answer.size() & 0xFF));
    script.insert(script.end(), answer.begin(), answer.end());
}

}  // namespace jpki::fuzz
