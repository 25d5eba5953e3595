// PcscTransport: waiting for reader and card events (C_WaitForSlotEvent) and cancelling a wait
// (C_Finalize wakes a blocked C_WaitForSlotEvent, docs/design.md §3).
#include "transport/pcsc.hpp"

#include "transport/pcsc_error.hpp"
#include "transport/pcsc_readers.hpp"

#include <algorithm>

namespace jpki::transport {
namespace {

using Clock = std::chrono::steady_clock;

// pcsc-lite drops an SCardCancel that arrives before SCardGetStatusChange has marked its call
// cancellable. cancel_wait() therefore repeats it this often until the wait has returned, so the
// wait itself can block without a timeout (issue 11: no polling, ~no CPU while idle).
constexpr std::chrono::milliseconds cancel_repeat{20};
// ... and gives up after this long (a pcscd that answers nothing at all).
constexpr std::chrono::milliseconds cancel_bound{5000};

// The state bits whose change is a slot event: presence, muteness, reader availability, and
// the event counter (high 16 bits). INUSE/EXCLUSIVE flip whenever some program connects —
// the module itself included — and are not events.
constexpr DWORD event_bits = SCARD_STATE_PRESENT | SCARD_STATE_EMPTY | SCARD_STATE_MUTE |
                             SCARD_STATE_UNAVAILABLE | SCARD_STATE_UNKNOWN | 0xFFFF0000UL;

DWORD without_changed(DWORD state) { return state & ~static_cast<DWORD>(SCARD_STATE_CHANGED); }

}  // namespace

void PcscTransport::remember(const StateMap& states, bool replace_all) {
    const std::lock_guard lock(seen_mutex_);
    if (replace_all) seen_.clear();
    for (const auto& [name, state] : states) {
        if ((state & SCARD_STATE_UNKNOWN) != 0)
            seen_.erase(name);
        else
            seen_[name] = state;
    }
    seen_known_ = true;
}

PcscTransport::StateMap PcscTransport::remembered(bool& known) {
    const std::lock_guard lock(seen_mutex_);
    known = seen_known_;
    return seen_;
}

void PcscTransport::ensure_wait_context() {
    if (wait_context_) return;
    wait_context_ = ScardContext::establish();  // throws ServiceUnavailable
    pnp_state_ = SCARD_STATE_UNAWARE;
    const std::lock_guard lock(cancel_mutex_);
    published_wait_context_ = wait_context_.get();
    wait_context_published_ = true;
}

void PcscTransport::drop_wait_context() noexcept {
    {
        // Unpublish first, so cancel_wait() never uses a released context.
        const std::lock_guard lock(cancel_mutex_);
        wait_context_published_ = false;
    }
    wait_context_.release();
}

bool PcscTransport::cancelled() noexcept {
    const std::lock_guard lock(cancel_mutex_);
    return cancel_requested_;
}

void PcscTransport::cancel_wait() {
    std::unique_lock lock(cancel_mutex_);
    // For good, not for one wait: C_Finalize must wake every C_WaitForSlotEvent, and waiters
    // queued on wait_mutex_ behind the one blocked in pcscd would otherwise block without a
    // timeout after it returns (found by the new-user test of issue 11: two waiters hung
    // C_Finalize).
    cancel_requested_ = true;
    const auto deadline = Clock::now() + cancel_bound;
    // SCardCancel must use the waiting call's own context (pcsc-lite's rule for cross-thread
    // use); holding cancel_mutex_ keeps that context from being released meanwhile. Repeated
    // until the wait has returned (see cancel_repeat).
    while (waiting_ && Clock::now() < deadline) {
        if (wait_context_published_) (void)SCardCancel(published_wait_context_);
        wait_ended_.wait_for(lock, cancel_repeat, [this] { return !waiting_; });
    }
}

PcscTransport::WaitingScope::WaitingScope(PcscTransport& transport) : transport_(transport) {
    const std::lock_guard lock(transport_.cancel_mutex_);
    transport_.waiting_ = true;
}

PcscTransport::WaitingScope::~WaitingScope() {
    {
        const std::lock_guard lock(transport_.cancel_mutex_);
        transport_.waiting_ = false;
    }
    transport_.wait_ended_.notify_all();
}

bool PcscTransport::wait_for_change(std::chrono::milliseconds timeout) {
    const std::lock_guard wait_lock(wait_mutex_);
    const WaitingScope waiting(*this);
    // Longer than a year is forever; this also keeps the deadline from overflowing.
    const auto limit = std::clamp<std::chrono::milliseconds>(
        timeout, std::chrono::milliseconds::zero(), std::chrono::hours(24 * 365));
    const Clock::time_point deadline = Clock::now() + limit;

    if (cancelled()) return false;
    ensure_wait_context();
    // pcscd went away mid-wait: its readers are gone, which is a change. The next call
    // establishes a new context (or reports ServiceUnavailable).
    const auto service_gone = [this] {
        drop_wait_context();
        remember({}, true);
        return true;
    };

    for (;;) {
        std::vector<std::string> names;
        LONG rv = detail::list_readers(wait_context_.get(), names);
        if (rv == SCARD_E_NO_READERS_AVAILABLE) rv = SCARD_S_SUCCESS;
        if (pcsc_service_lost(rv)) return service_gone();
        check_pcsc(rv, "listing readers");

        bool known = false;
        const StateMap seen = remembered(known);
        std::vector<SCARD_READERSTATE> states = detail::make_states(names);
        for (SCARD_READERSTATE& state : states) {
            const auto it = seen.find(state.szReader);
            if (it != seen.end()) state.dwCurrentState = it->second;
        }
        // A reader plugged in or out since the caller last looked.
        const bool same_readers =
            seen.size() == names.size() &&
            std::all_of(names.begin(), names.end(), [&](const std::string& n) { return seen.contains(n); });
        const bool report_now = known && !same_readers;

        // Without a baseline (nobody called readers() yet) or with a new reader, learn the
        // current state first (timeout 0); the PnP reader joins only the blocking wait.
        if (!known || report_now) {
            if (!states.empty()) {
                rv = SCardGetStatusChange(wait_context_.get(), 0, states.data(),
                                          static_cast<DWORD>(states.size()));
                if (pcsc_service_lost(rv)) return service_gone();
                if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT) check_pcsc(rv, "reading reader states");
            }
            StateMap now;
            for (const SCARD_READERSTATE& state : states) now[state.szReader] = without_changed(state.dwEventState);
            remember(now, true);
            if (report_now) return true;
            continue;  // wait from the state just learned
        }

        states.push_back(SCARD_READERSTATE{});
        states.back().szReader = detail::pnp_notification;
        states.back().dwCurrentState = pnp_state_;

        // No timeout at all for "forever": pcscd wakes us for any reader or card event (the PnP
        // pseudo-reader included) and cancel_wait() for C_Finalize.
        const auto remaining = std::clamp(
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
            std::chrono::milliseconds::zero(), limit);
        const DWORD wait_ms = limit >= wait_forever ? INFINITE : static_cast<DWORD>(remaining.count());
        rv = SCardGetStatusChange(wait_context_.get(), wait_ms, states.data(), static_cast<DWORD>(states.size()));
        if (rv == SCARD_E_CANCELLED) return false;
        if (pcsc_service_lost(rv)) return service_gone();
        if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT) check_pcsc(rv, "waiting for reader events");

        if (rv == SCARD_S_SUCCESS) {
            bool changed = false;
            StateMap now;
            for (std::size_t i = 0; i + 1 < states.size(); ++i) {
                const SCARD_READERSTATE& state = states[i];
                if (((state.dwEventState ^ state.dwCurrentState) & event_bits) != 0) changed = true;
                now[state.szReader] = without_changed(state.dwEventState);
            }
            const SCARD_READERSTATE& pnp = states.back();
            pnp_state_ = without_changed(pnp.dwEventState);
            if ((pnp.dwEventState & SCARD_STATE_CHANGED) != 0) changed = true;  // reader list
            remember(now, false);
            if (changed) return true;
            // Only sharing bits moved: keep waiting from the new state.
        }
        if (cancelled()) return false;
        if (limit < wait_forever && Clock::now() >= deadline) return false;
    }
}

}  // namespace jpki::transport
