// The transport seam (docs/design.md §2, §7): everything above this header talks to a card only
// through Transport and Connection. Two implementations exist: PC/SC (src/transport, real
// pcscd) and the in-process virtual My Number Card (tests/vcard). The same tests run on both.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace jpki {

using Bytes = std::vector<std::uint8_t>;

namespace transport {

// Failures a transport reports. They mirror what PC/SC can tell apart, because the module
// maps each to a different PKCS#11 answer (docs/design.md §3, "Sessions, events, threads").
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};
// The card left the reader (SCARD_W_REMOVED_CARD / SCARD_E_NO_SMARTCARD).
class CardRemoved : public Error {
public:
    using Error::Error;
};
// Another program reset or powered the card down (SCARD_W_RESET_CARD): security state is
// gone; the connection is usable again after reconnect().
class CardReset : public Error {
public:
    using Error::Error;
};
// The reader or the PC/SC service went away (SCARD_E_NO_SERVICE, SCARD_E_READER_UNAVAILABLE...).
class ServiceUnavailable : public Error {
public:
    using Error::Error;
};
// Another program kept the card in a transaction of its own (SCardBeginTransaction) longer than
// the connection waits (PcscConnection: 5 s). Nothing was sent to the card; the connection is
// usable again once that program ends its transaction.
class CardBusy : public Error {
public:
    using Error::Error;
};

// Another program holds the card exclusively (SCARD_E_SHARING_VIOLATION on connect: GnuPG's
// scdaemon does so by default). Nothing was sent; a later connect works once it lets go.
class CardHeldExclusively : public Error {
public:
    using Error::Error;
};

// The reader, its driver or pcscd would not carry an extended-length command APDU (a reader
// that exchanges short APDUs only: SCardTransmit fails while the card stays in the reader). The
// card state is unchanged and the connection stays usable for short APDUs, inside the same
// transaction (docs/card.md "Longer reads, fewer APDUs").
class ExtendedLengthRefused : public Error {
public:
    using Error::Error;
};

// ISO 7816-4 extended length: Lc or Le in 2 or 3 bytes, marked by a 00 byte after the header
// (cases 2E, 3E, 4E). A short case-3/4 APDU never has Lc 00 there.
inline bool is_extended_length(std::span<const std::uint8_t> command) noexcept {
    return command.size() >= 7 && command[4] == 0x00;
}
// An extended Le asks for up to 65536 bytes: with SW1 SW2 that is the longest answer.
inline constexpr std::size_t max_extended_response = 65536 + 2;

struct ReaderStatus {
    std::string name;
    bool card_present = false;
    Bytes atr;                  // empty when no card
    // Changes whenever a card is inserted or removed. Not on a reset by another program (pcsc-lite
    // 1.9.9 does not count those): that shows as CardReset on the connection's next exchange.
    std::uint32_t event_count = 0;
};

// One exclusive-in-turn channel to the card in one reader.
class Connection {
public:
    virtual ~Connection() = default;
    Connection() = default;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Sends one command APDU; returns the response data followed by SW1 SW2 (at most
    // max_extended_response bytes). Throws CardRemoved, CardReset, ServiceUnavailable,
    // ExtendedLengthRefused (only for an extended-length command) or Error.
    virtual Bytes transmit(std::span<const std::uint8_t> command) = 0;
    // SCardBeginTransaction / SCardEndTransaction: nothing of another program's can run
    // between the two. begin throws CardReset when the card was reset since the last exchange,
    // CardBusy when another program's transaction outlasts the connection's bound.
    virtual void begin_transaction() = 0;
    virtual void end_transaction() noexcept = 0;
    // After CardReset: re-establishes the channel (SCardReconnect, leaving the card powered).
    virtual void reconnect() = 0;
    // Warm-resets the card (SCardReconnect with SCARD_RESET_CARD): every verified PIN on it is
    // cleared, for every program sharing it (docs/card.md "Security state": the only proven way
    // to end a login on the card). Other programs' handles then see CardReset once.
    virtual void reset_card() = 0;
    virtual Bytes atr() const = 0;
};

// "No timeout" for Transport::wait_for_change (a year: longer is the same for a process).
inline constexpr std::chrono::milliseconds wait_forever = std::chrono::hours(24 * 365);

class Transport {
public:
    virtual ~Transport() = default;
    Transport() = default;
    Transport(const Transport&) = delete;
    Transport& operator=(const Transport&) = delete;

    virtual std::vector<ReaderStatus> readers() = 0;
    // Throws CardRemoved when no card is in the reader, ServiceUnavailable when the reader is gone.
    virtual std::unique_ptr<Connection> connect(const std::string& reader) = 0;
    // Blocks until a reader or card changes or the timeout passes; true when something changed.
    // A timeout of wait_forever or more never passes. cancel_wait() (from another thread, for
    // C_Finalize) makes a blocked call return false at once, and every later call too.
    virtual bool wait_for_change(std::chrono::milliseconds timeout) = 0;
    virtual void cancel_wait() = 0;
};

// RAII for one card transaction (docs/design.md §7: begin -> work -> end, on every path).
class Transaction {
public:
    explicit Transaction(Connection& connection) : connection_(connection) {
        connection_.begin_transaction();
    }
    ~Transaction() { connection_.end_transaction(); }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

private:
    Connection& connection_;
};

}  // namespace transport
}  // namespace jpki
