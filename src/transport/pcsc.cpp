// PcscTransport: listing readers and connecting (waiting for events is in pcsc_wait.cpp).
#include "transport/pcsc.hpp"

#include "transport/pcsc_connection.hpp"
#include "transport/pcsc_error.hpp"
#include "transport/pcsc_readers.hpp"
#include "transport/pending_connect.hpp"

namespace jpki::transport {
namespace {

// Reads every reader's state now (timeout 0, SCARD_STATE_UNAWARE: pcsc-lite answers at once).
LONG read_states(SCARDCONTEXT context, std::vector<std::string>& names,
                 std::vector<SCARD_READERSTATE>& states) {
    LONG rv = detail::list_readers(context, names);
    if (rv != SCARD_S_SUCCESS) return rv;
    states = detail::make_states(names);
    if (states.empty()) return SCARD_S_SUCCESS;
    rv = SCardGetStatusChange(context, 0, states.data(), static_cast<DWORD>(states.size()));
    // With every reader UNAWARE pcsc-lite reports a change at once; a timeout still leaves
    // the states filled in.
    return rv == SCARD_E_TIMEOUT ? SCARD_S_SUCCESS : rv;
}

ReaderStatus to_status(const SCARD_READERSTATE& state) {
    ReaderStatus status;
    status.name = state.szReader;
    // A mute card (no usable ATR) cannot be talked to: not a token.
    status.card_present = (state.dwEventState & SCARD_STATE_PRESENT) != 0 &&
                          (state.dwEventState & SCARD_STATE_MUTE) == 0;
    if (status.card_present)
        status.atr.assign(state.rgbAtr, state.rgbAtr + std::min<DWORD>(state.cbAtr, MAX_ATR_SIZE));
    // pcsc-lite keeps a per-reader event counter in the high 16 bits (card inserted/removed).
    status.event_count = static_cast<std::uint32_t>((state.dwEventState >> 16) & 0xFFFF);
    return status;
}

}  // namespace

std::vector<ReaderStatus> PcscTransport::readers() {
    const std::lock_guard lock(mutex_);
    std::vector<std::string> names;
    std::vector<SCARD_READERSTATE> states;
    LONG rv = SCARD_E_NO_SERVICE;
    // Twice at most: a context that died with pcscd is replaced once, then we give up until
    // the next call.
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!context_) context_ = ScardContext::establish();  // throws ServiceUnavailable
        rv = read_states(context_.get(), names, states);
        if (!pcsc_service_lost(rv)) break;
        context_.release();
    }
    if (rv == SCARD_E_NO_READERS_AVAILABLE) {
        remember({}, true);
        return {};
    }
    check_pcsc(rv, "listing readers");

    std::vector<ReaderStatus> result;
    StateMap seen;
    for (const SCARD_READERSTATE& state : states) {
        if ((state.dwEventState & SCARD_STATE_UNKNOWN) != 0) continue;  // unplugged meanwhile
        result.push_back(to_status(state));
        seen[state.szReader] = state.dwEventState & ~static_cast<DWORD>(SCARD_STATE_CHANGED);
    }
    remember(seen, true);
    return result;
}

PcscTransport::PcscTransport() = default;
PcscTransport::~PcscTransport() = default;  // out of line: PendingConnect is complete here

std::unique_ptr<Connection> PcscTransport::connect(const std::string& reader) {
    const std::string what = "connecting to reader \"" + reader + "\"";
    for (int attempt = 0;; ++attempt) {
        std::shared_ptr<PendingConnect> pending;
        bool started_here = false;
        {
            const std::lock_guard lock(pending_mutex_);
            std::shared_ptr<PendingConnect>& slot = pending_[reader];
            if (!slot) {
                slot = std::make_shared<PendingConnect>(reader);
                started_here = true;
            }
            pending = slot;
        }
        if (!pending->wait_for(PcscConnection::default_busy_timeout))
            throw CardBusy(busy_message(what, PcscConnection::default_busy_timeout));
        {
            const std::lock_guard lock(pending_mutex_);
            const auto it = pending_.find(reader);
            if (it != pending_.end() && it->second == pending) pending_.erase(it);
        }
        std::optional<PendingConnect::Result> result = pending->take();
        if (!result) {  // another thread took this connect's result: make one of our own
            if (attempt < 2) continue;
            throw Error(what + ": connect raced with other threads");
        }
        if (result->rv == SCARD_S_SUCCESS)
            return std::make_unique<PcscConnection>(std::move(result->context), std::move(result->handle),
                                                    result->protocol, reader);
        // An earlier call's connect that failed may be stale (the card was reinserted since).
        if (!started_here && attempt < 2) continue;
        // pcscd restarting under us: one more try with a context on the new daemon.
        if (attempt == 0 && pcsc_service_lost(result->rv)) continue;
        map_pcsc_error(result->rv, what);
    }
}

}  // namespace jpki::transport
