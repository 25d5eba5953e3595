#include "transport/pcsc_connection.hpp"

#include "transport/pcsc_error.hpp"

#include <PCSC/pcsclite.h>

#include <array>
#include <limits>

namespace jpki::transport {
namespace {

// The protocol control information for the protocol the reader negotiated.
const SCARD_IO_REQUEST* pci_for(DWORD protocol) noexcept {
    switch (protocol) {
        case SCARD_PROTOCOL_T0: return SCARD_PCI_T0;
        case SCARD_PROTOCOL_T1: return SCARD_PCI_T1;
        default: return SCARD_PCI_RAW;
    }
}

}  // namespace

PcscConnection::PcscConnection(ScardContext context, ScardHandle handle, DWORD protocol)
    : context_(std::move(context)), handle_(std::move(handle)), protocol_(protocol) {
    read_atr();
}

Bytes PcscConnection::transmit(std::span<const std::uint8_t> command) {
    if (command.size() > std::numeric_limits<DWORD>::max())
        throw Error("SCardTransmit: command too long");
    // Short APDUs only (the JPKI applet uses no extended length): at most 256 data bytes plus
    // SW1 SW2; pcsc-lite's MAX_BUFFER_SIZE (264) covers that with room to spare.
    std::array<std::uint8_t, MAX_BUFFER_SIZE> response{};
    DWORD length = response.size();
    SCARD_IO_REQUEST receive_pci{};
    const LONG rv = SCardTransmit(handle_.get(), pci_for(protocol_), command.data(),
                                  static_cast<DWORD>(command.size()), &receive_pci,
                                  response.data(), &length);
    check_pcsc(rv, "SCardTransmit");
    if (length < 2) throw Error("SCardTransmit: response shorter than a status word");
    return Bytes(response.begin(), response.begin() + static_cast<std::ptrdiff_t>(length));
}

void PcscConnection::begin_transaction() {
    // SCARD_W_RESET_CARD here means another program reset the card since our last exchange.
    check_pcsc(SCardBeginTransaction(handle_.get()), "SCardBeginTransaction");
}

void PcscConnection::end_transaction() noexcept {
    // Errors are ignored: the card may be gone or reset, and then the transaction is over anyway.
    (void)SCardEndTransaction(handle_.get(), SCARD_LEAVE_CARD);
}

void PcscConnection::reconnect() {
    // SCARD_LEAVE_CARD: only re-synchronise our handle with the card as it is now; resetting
    // it again would needlessly clear another program's state.
    DWORD protocol = 0;
    check_pcsc(SCardReconnect(handle_.get(), SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                              SCARD_LEAVE_CARD, &protocol),
               "SCardReconnect");
    protocol_ = protocol;
    read_atr();
}

void PcscConnection::reset_card() {
    DWORD protocol = 0;
    check_pcsc(SCardReconnect(handle_.get(), SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                              SCARD_RESET_CARD, &protocol),
               "SCardReconnect (reset)");
    protocol_ = protocol;
    read_atr();
}

void PcscConnection::read_atr() {
    std::array<char, MAX_READERNAME> reader{};
    DWORD reader_length = reader.size();
    std::array<std::uint8_t, MAX_ATR_SIZE> atr{};
    DWORD atr_length = atr.size();
    DWORD state = 0;
    DWORD protocol = 0;
    check_pcsc(SCardStatus(handle_.get(), reader.data(), &reader_length, &state, &protocol,
                           atr.data(), &atr_length),
               "SCardStatus");
    atr_.assign(atr.begin(), atr.begin() + static_cast<std::ptrdiff_t>(atr_length));
}

}  // namespace jpki::transport
