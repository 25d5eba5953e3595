// A Connection over one PC/SC card handle (include/jpki/transport.hpp).
#pragma once

#include "jpki/transport.hpp"
#include "transport/scard.hpp"

namespace jpki::transport {

// Owns its own SCARDCONTEXT as well as the SCARDHANDLE: pcsc-lite wants one context per thread,
// and the card's I/O thread is not the thread that lists readers or waits for events. It also
// keeps the connection valid when the transport re-establishes its own context after a pcscd
// restart.
//
// Not thread-safe: the layer above uses each connection under its card's I/O lock.
class PcscConnection final : public Connection {
public:
    // Takes a freshly connected handle; reads the ATR (SCardStatus).
    PcscConnection(ScardContext context, ScardHandle handle, DWORD protocol);

    Bytes transmit(std::span<const std::uint8_t> command) override;
    void begin_transaction() override;
    void end_transaction() noexcept override;
    void reconnect() override;
    void reset_card() override;
    [[nodiscard]] Bytes atr() const override { return atr_; }

private:
    void read_atr();

    // Declared in this order so the handle is disconnected before its context is released.
    ScardContext context_;
    ScardHandle handle_;
    DWORD protocol_;
    Bytes atr_;
};

}  // namespace jpki::transport
