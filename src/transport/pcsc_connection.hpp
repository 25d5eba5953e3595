// A Connection over one PC/SC card handle (include/jpki/transport.hpp).
#pragma once

#include "jpki/transport.hpp"
#include "transport/scard.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace jpki::transport {

class PendingConnect;

// The text of a CardBusy: `what` (the call and reader), then why and how long we waited.
std::string busy_message(const std::string& what, std::chrono::milliseconds waited);

// Owns its own SCARDCONTEXT as well as the SCARDHANDLE: pcsc-lite wants one context per thread,
// and the card's I/O thread is not the thread that lists readers or waits for events. It also
// keeps the connection valid when the transport re-establishes its own context after a pcscd
// restart.
//
// Another program's transaction: pcsc-lite 1.9.9 makes SCardBeginTransaction, SCardReconnect,
// SCardStatus and SCardTransmit poll every 100 ms, without end, while another handle holds the
// card's transaction, and makes pcscd hold a new SCardConnect until it ends. So begin_transaction()
// and reconnect() wait at most busy_timeout, then throw CardBusy: a watchdog thread disconnects
// our handle (SCARD_LEAVE_CARD: the card and its PIN state are untouched), which makes the
// polling call return SCARD_E_INVALID_HANDLE. The next call connects to the same reader again,
// on a helper thread, and waits for that at most busy_timeout too (CardBusy again while the other
// program still holds the card). Destroying the connection joins that helper: it may wait until
// the other program ends its transaction (pcsc-lite cannot abort a connect waiting for it).
//
// Not thread-safe: the layer above uses each connection under its card's I/O lock.
class PcscConnection final : public Connection {
public:
    static constexpr std::chrono::milliseconds default_busy_timeout{5000};

    // Takes a freshly connected handle to `reader`; reads the ATR (SCardStatus).
    PcscConnection(ScardContext context, ScardHandle handle, DWORD protocol, std::string reader,
                   std::chrono::milliseconds busy_timeout = default_busy_timeout);
    ~PcscConnection() override;
    PcscConnection(const PcscConnection&) = delete;
    PcscConnection& operator=(const PcscConnection&) = delete;
    PcscConnection(PcscConnection&&) = delete;
    PcscConnection& operator=(PcscConnection&&) = delete;

    // CardRemoved also when the exchange failed otherwise and the reader shows the card gone.
    Bytes transmit(std::span<const std::uint8_t> command) override;
    void begin_transaction() override;
    void end_transaction() noexcept override;
    void reconnect() override;
    void reset_card() override;
    [[nodiscard]] Bytes atr() const override { return atr_; }

private:
    void read_atr();
    // SCardReconnect with `disposition` (leave or reset the card) and the ATR read again, both
    // bounded by busy_timeout_ (CardBusy, handle dropped, when another program's transaction
    // outlasts it). `what` names the call in errors.
    void reconnect_with(DWORD disposition, const char* what);
    // After an exchange failed in a way PC/SC did not call a removal: true when the reader
    // shows no card now or within removal_notice_bound (pcscd polls the reader).
    [[nodiscard]] bool card_left_reader() noexcept;
    // The reader shows a card right now (no waiting).
    [[nodiscard]] bool card_present_now() noexcept;
    static constexpr std::chrono::milliseconds removal_notice_bound{1500};
    // After a busy timeout the handle is gone: connect to reader_ again, waiting at most
    // busy_timeout_ (CardBusy otherwise; the connect goes on and is picked up by the next call).
    void ensure_handle();
    [[noreturn]] void throw_busy(const char* what);

    // Declared in this order so the handle is disconnected before its context is released.
    ScardContext context_;
    ScardHandle handle_;
    DWORD protocol_;
    Bytes atr_;
    std::string reader_;
    std::chrono::milliseconds busy_timeout_;
    std::unique_ptr<PendingConnect> pending_;  // a connect waiting for another program's transaction
};

}  // namespace jpki::transport
