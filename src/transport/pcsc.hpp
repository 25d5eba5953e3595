// The PC/SC implementation of the transport seam (include/jpki/transport.hpp) over PCSC-lite.
#pragma once

#include "jpki/transport.hpp"
#include "transport/scard.hpp"

#include <PCSC/winscard.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace jpki::transport {

// Threads: readers() and connect() may be called from any thread (the context they use is
// guarded by a mutex; every connection gets its own context). wait_for_change() runs in one
// thread at a time on a context of its own, so cancel_wait() can SCardCancel it from another
// thread. The object must outlive a running wait_for_change(): cancel it and let it return
// before destroying the transport.
//
// pcscd may be absent or restart at any time: nothing is established at construction, and a
// context found dead (SCARD_E_NO_SERVICE and friends) is released and established again on the
// next call ("pcscd restarted -> the next call re-establishes the context", docs/design.md §3).
class PendingConnect;

class PcscTransport final : public Transport {
public:
    PcscTransport();
    // Joins the connects still waiting for another program's transaction (see connect()).
    ~PcscTransport() override;

    // Every reader with its card state. No readers -> empty. pcscd unreachable even after
    // establishing a fresh context -> ServiceUnavailable.
    std::vector<ReaderStatus> readers() override;
    // SCARD_SHARE_SHARED, T=0 or T=1. CardRemoved when the reader holds no card,
    // ServiceUnavailable when the reader or pcscd is gone. CardBusy after 5 s while another
    // program holds the card's transaction (pcscd holds a connect until it ends): that connect
    // goes on in a helper thread, and the next connect() to the reader takes it over.
    std::unique_ptr<Connection> connect(const std::string& reader) override;
    // True when, since the caller last looked (the last readers() or wait_for_change()), a
    // reader appeared or went, or a card was inserted, removed or went mute. Changes that only
    // flip the sharing bits (some program connected) are not reported. Returns false on timeout
    // or cancel_wait(). Throws ServiceUnavailable when pcscd cannot be reached at the start; a
    // pcscd that goes away during the wait is reported as a change (its readers are gone).
    bool wait_for_change(std::chrono::milliseconds timeout) override;
    // For C_Finalize: wakes a blocked wait_for_change (SCardCancel) and returns once it has
    // returned (at most 5 s); from then on every wait_for_change returns false at once (waiters
    // queued behind the blocked one included). A cancel that races the start of a wait is
    // repeated every 20 ms until the wait ends, so waits need no timeout (wait_forever =
    // SCardGetStatusChange with INFINITE).
    void cancel_wait() override;

private:
    using StateMap = std::map<std::string, DWORD>;

    // Reader states as last shown to the caller (dwEventState without SCARD_STATE_CHANGED: the
    // high 16 bits hold pcsc-lite's per-reader event counter, so passing them back as
    // dwCurrentState makes pcsc-lite report any insertion/removal that happened in between).
    void remember(const StateMap& states, bool replace_all);
    [[nodiscard]] StateMap remembered(bool& known);

    void ensure_wait_context();
    void drop_wait_context() noexcept;
    [[nodiscard]] bool cancelled() noexcept;

    std::mutex mutex_;  // guards context_
    ScardContext context_;

    std::mutex wait_mutex_;  // one waiter at a time; guards wait_context_ and pnp_state_
    ScardContext wait_context_;
    DWORD pnp_state_ = SCARD_STATE_UNAWARE;

    // Marks a running wait_for_change (waiting_) for cancel_wait().
    class WaitingScope {
    public:
        explicit WaitingScope(PcscTransport& transport);
        ~WaitingScope();
        WaitingScope(const WaitingScope&) = delete;
        WaitingScope& operator=(const WaitingScope&) = delete;
        WaitingScope(WaitingScope&&) = delete;
        WaitingScope& operator=(WaitingScope&&) = delete;

    private:
        PcscTransport& transport_;
    };

    std::mutex cancel_mutex_;  // guards the members below; never held while blocking
    std::condition_variable wait_ended_;  // waiting_ went false
    bool waiting_ = false;
    bool cancel_requested_ = false;  // set for good by cancel_wait()
    bool wait_context_published_ = false;
    SCARDCONTEXT published_wait_context_ = 0;

    std::mutex pending_mutex_;  // guards pending_
    std::map<std::string, std::shared_ptr<PendingConnect>> pending_;

    std::mutex seen_mutex_;  // guards seen_ and seen_known_
    StateMap seen_;
    bool seen_known_ = false;
};

}  // namespace jpki::transport
