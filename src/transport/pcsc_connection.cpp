#include "transport/pcsc_connection.hpp"

#include "transport/pcsc_error.hpp"
#include "transport/pending_connect.hpp"

#include <PCSC/pcsclite.h>

#include <array>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

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

// Disconnects a handle (SCARD_LEAVE_CARD) unless disarmed within the bound. pcsc-lite 1.9.9's
// client looks the handle up again before each 100 ms poll of a call blocked by another
// program's transaction, so the blocked call then returns SCARD_E_INVALID_HANDLE. pcscd does not
// wait for the lock on a SCARD_LEAVE_CARD disconnect (winscard.c SCardDisconnect).
class Watchdog {
public:
    Watchdog(SCARDHANDLE handle, std::chrono::milliseconds bound)
        : handle_(handle), bound_(bound), thread_([this] { watch(); }) {}
    ~Watchdog() { (void)disarm(); }
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;
    Watchdog(Watchdog&&) = delete;
    Watchdog& operator=(Watchdog&&) = delete;

    // Stops the watch; true when it had already fired (the handle is disconnected then).
    bool disarm() noexcept {
        {
            const std::lock_guard lock(mutex_);
            disarmed_ = true;
        }
        wake_.notify_all();
        if (thread_.joinable()) thread_.join();
        return fired_;
    }

private:
    void watch() noexcept {
        std::unique_lock lock(mutex_);
        if (wake_.wait_for(lock, bound_, [this] { return disarmed_; })) return;
        // Still under the mutex: disarm() cannot report "not fired" for a handle we disconnect.
        fired_ = true;
        (void)SCardDisconnect(handle_, SCARD_LEAVE_CARD);
    }

    SCARDHANDLE handle_;
    std::chrono::milliseconds bound_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool disarmed_ = false;
    bool fired_ = false;
    std::thread thread_;  // last: starts once the members it uses exist
};

}  // namespace

PcscConnection::PcscConnection(ScardContext context, ScardHandle handle, DWORD protocol, std::string reader,
                               std::chrono::milliseconds busy_timeout)
    : context_(std::move(context)), handle_(std::move(handle)), protocol_(protocol),
      reader_(std::move(reader)), busy_timeout_(busy_timeout) {
    read_atr();
}

// Out of line: PendingConnect is complete only here.
PcscConnection::~PcscConnection() = default;

void PcscConnection::throw_busy(const char* what) {
    throw CardBusy(busy_message(std::string(what) + " on reader \"" + reader_ + "\"", busy_timeout_));
}

std::string busy_message(const std::string& what, std::chrono::milliseconds waited) {
    return what + ": the card is busy in another program (its transaction lasted over " +
           std::to_string(waited.count()) + " ms)";
}

void PcscConnection::ensure_handle() {
    if (handle_.valid()) return;
    if (!pending_) pending_ = std::make_unique<PendingConnect>(reader_);
    if (!pending_->wait_for(busy_timeout_)) throw_busy("SCardConnect");
    std::optional<PendingConnect::Result> taken = pending_->take();
    pending_.reset();
    if (!taken) throw Error("connecting again to reader \"" + reader_ + "\": no result");
    PendingConnect::Result& result = *taken;
    check_pcsc(result.rv, "connecting again to reader \"" + reader_ + "\"");
    // Handle before context: the old handle is gone already, the old context goes with it.
    handle_ = std::move(result.handle);
    context_ = std::move(result.context);
    protocol_ = result.protocol;
    read_atr();
}

Bytes PcscConnection::transmit(std::span<const std::uint8_t> command) {
    if (command.size() > std::numeric_limits<DWORD>::max())
        throw Error("SCardTransmit: command too long");
    ensure_handle();
    // A short APDU's answer (256 data bytes + SW1 SW2) fits pcsc-lite's MAX_BUFFER_SIZE (264); an
    // extended Le may bring up to 65536 bytes (pcsc-lite takes up to MAX_BUFFER_SIZE_EXTENDED).
    const bool extended = is_extended_length(command);
    std::vector<std::uint8_t> response(extended ? max_extended_response : MAX_BUFFER_SIZE);
    auto length = static_cast<DWORD>(response.size());
    SCARD_IO_REQUEST receive_pci{};
    const LONG rv = SCardTransmit(handle_.get(), pci_for(protocol_), command.data(),
                                  static_cast<DWORD>(command.size()), &receive_pci,
                                  response.data(), &length);
    try {
        check_pcsc(rv, "SCardTransmit");
        if (length < 2) throw Error("SCardTransmit: response shorter than a status word");
    } catch (const CardRemoved&) {
        throw;
    } catch (const CardReset&) {
        throw;
    } catch (const ServiceUnavailable&) {
        throw;
    } catch (const Error& error) {
        // A card pulled out in the middle of an APDU is not always reported as removed: vpcd,
        // for one, answers with no bytes at all, and pcscd notices the empty reader only at its
        // next poll (PCSCLITE_STATUS_POLL_RATE, 400 ms).
        // An extended APDU that a short-APDU reader will not carry fails the same way
        // (SCARD_E_NOT_TRANSACTED from the CCID driver or vpcd) with the card still present:
        // that is told apart at once, without waiting for pcscd's poll, so the fallback to
        // short APDUs costs no second. A card pulled out at that very moment shows up at the
        // next short APDU.
        if (extended && card_present_now()) {
            throw ExtendedLengthRefused(std::string(error.what()) + " (extended-length APDU)");
        }
        if (card_left_reader()) throw CardRemoved(std::string(error.what()) + "; the card has left the reader");
        throw;
    }
    return Bytes(response.begin(), response.begin() + static_cast<std::ptrdiff_t>(length));
}

bool PcscConnection::card_present_now() noexcept {
    SCARD_READERSTATE state{};
    state.szReader = reader_.c_str();
    state.dwCurrentState = SCARD_STATE_UNAWARE;
    const LONG rv = SCardGetStatusChange(context_.get(), 0, &state, 1);
    if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT) return false;
    return (state.dwEventState & SCARD_STATE_PRESENT) != 0;
}

bool PcscConnection::card_left_reader() noexcept {
    SCARD_READERSTATE state{};
    state.szReader = reader_.c_str();
    state.dwCurrentState = SCARD_STATE_UNAWARE;
    const auto deadline = std::chrono::steady_clock::now() + removal_notice_bound;
    for (DWORD timeout = 0;;) {
        const LONG rv = SCardGetStatusChange(context_.get(), timeout, &state, 1);
        if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT) return false;
        if ((state.dwEventState & SCARD_STATE_EMPTY) != 0) return true;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        timeout = static_cast<DWORD>(left.count());
        state.dwCurrentState = state.dwEventState & ~static_cast<DWORD>(SCARD_STATE_CHANGED);
    }
}

void PcscConnection::begin_transaction() {
    ensure_handle();
    LONG rv = SCARD_S_SUCCESS;
    bool busy = false;
    {
        Watchdog watchdog(handle_.get(), busy_timeout_);
        rv = SCardBeginTransaction(handle_.get());
        busy = watchdog.disarm();
    }
    if (busy) {
        // The watchdog disconnected the handle (even if the transaction began just before:
        // pcscd's disconnect released it); this only marks it gone.
        handle_.disconnect();
        throw_busy("SCardBeginTransaction");
    }
    // SCARD_W_RESET_CARD here means another program reset the card since our last exchange.
    check_pcsc(rv, "SCardBeginTransaction");
}

void PcscConnection::end_transaction() noexcept {
    // Errors are ignored: the card may be gone or reset, and then the transaction is over anyway.
    if (handle_.valid()) (void)SCardEndTransaction(handle_.get(), SCARD_LEAVE_CARD);
}

void PcscConnection::reconnect() {
    if (!handle_.valid()) {
        ensure_handle();  // a fresh handle is as synchronised as a reconnected one
        return;
    }
    // SCARD_LEAVE_CARD: only re-synchronise our handle with the card as it is now; resetting
    // it again would needlessly clear another program's state.
    reconnect_with(SCARD_LEAVE_CARD, "SCardReconnect");
}

void PcscConnection::reset_card() {
    if (!handle_.valid()) ensure_handle();
    reconnect_with(SCARD_RESET_CARD, "SCardReconnect (reset)");
}

void PcscConnection::reconnect_with(DWORD disposition, const char* what) {
    // SCardReconnect and SCardStatus poll for ever while another program holds a transaction:
    // same bound as begin_transaction().
    DWORD protocol = 0;
    LONG rv = SCARD_S_SUCCESS;
    bool busy = false;
    {
        Watchdog watchdog(handle_.get(), busy_timeout_);
        rv = SCardReconnect(handle_.get(), SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, disposition,
                            &protocol);
        if (rv == SCARD_S_SUCCESS) {
            protocol_ = protocol;
            try {
                read_atr();
            } catch (const Error&) {
                if (!watchdog.disarm()) throw;
            }
        }
        busy = watchdog.disarm();
    }
    if (busy) {
        handle_.disconnect();
        throw_busy(what);
    }
    check_pcsc(rv, what);
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
