// The virtual My Number Card: the JPKI applet as docs/card.md describes it, behind one mutex.
#pragma once

#include <jpki/vcard/config.hpp>

#include <cstdint>
#include <memory>
#include <span>

namespace jpki::vcard {

// A new Card behaves as one just powered on. process() does not model an unpowered card: the
// reader (VirtualReaders, or pcscd through vpcd) powers it before sending APDUs.
class Card {
public:
    // Loads the certificates and keys from config.pki_dir and, when config.state_file exists,
    // the PINs and counters a previous run left there (a real card remembers them).
    // Throws std::invalid_argument for a bad config, std::runtime_error for unreadable files.
    explicit Card(CardConfig config = {});
    ~Card();
    Card(const Card&) = delete;
    Card& operator=(const Card&) = delete;

    // Cold start: returns the ATR; security state and selections are back to power-on defaults
    // (the GlobalPlatform ISD is selected, not the JPKI AP).
    Bytes power_on();
    void power_off();
    // Warm reset: same effect as power_on, returns the ATR.
    Bytes reset();
    // One command APDU in, response data + SW1 SW2 out. Never throws on any input: every
    // malformed command gets an ISO 7816-4 status word. A hostile card (CardConfig::hostile)
    // then spoils some answers, and may answer fewer than 2 bytes.
    Bytes process(std::span<const std::uint8_t> command);

    // Whether the reader in front of the card refuses to carry `command` (an extended-length
    // APDU while CardConfig::reader_extended is false). The card never sees such a command; the
    // trace gets a "# reader refused ..." line. VirtualReaders then throws
    // transport::ExtendedLengthRefused; jpki-vcard answers vpcd a single byte (no status word),
    // which the module's PC/SC transport takes as a failed transmit (vpcd/vpcd_client.cpp).
    bool reader_refuses(std::span<const std::uint8_t> command);

    Bytes atr() const;
    const CardConfig& config() const noexcept;
    // For tests: the counter and the verified flag as the card holds them.
    int tries_left(Pin which) const;
    bool verified(Pin which) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace jpki::vcard
