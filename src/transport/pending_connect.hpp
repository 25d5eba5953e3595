// A shared SCardConnect running on a helper thread, so that its caller can stop waiting for it
// (internal to the PC/SC transport).
#pragma once

#include "transport/scard.hpp"

#include <PCSC/winscard.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace jpki::transport {

// pcscd holds a shared connect for as long as another handle has the card's transaction
// (pcsc-lite 1.9.9 winscard.c SCardConnect polls hLockId, without end), and the client cannot
// abort it. So the connect runs here, on a context of its own; the caller waits for it as long
// as it likes and may come back for the result later.
//
// Destroying a PendingConnect whose connect has not returned must not wait for that other
// program (C_Finalize would hang for as long as it keeps its transaction): the thread is then
// detached and owns what it shares with us; when the connect returns it releases the handle and
// the context itself. The module is linked with -z nodelete (src/api/CMakeLists.txt), so its
// code stays mapped for such a thread even after dlclose.
class PendingConnect {
public:
    struct Result {
        LONG rv = SCARD_E_NO_SERVICE;
        ScardContext context;
        ScardHandle handle;
        DWORD protocol = 0;
    };

    explicit PendingConnect(std::string reader) : state_(std::make_shared<State>()) {
        thread_ = std::thread([state = state_, reader = std::move(reader)] { run(*state, reader); });
    }
    ~PendingConnect() {
        if (!thread_.joinable()) return;
        if (wait_for(std::chrono::milliseconds(0))) {
            thread_.join();
        } else {
            thread_.detach();  // see the class comment
        }
    }
    PendingConnect(const PendingConnect&) = delete;
    PendingConnect& operator=(const PendingConnect&) = delete;
    PendingConnect(PendingConnect&&) = delete;
    PendingConnect& operator=(PendingConnect&&) = delete;

    // True once the connect has returned (result() is then ready).
    bool wait_for(std::chrono::milliseconds bound) {
        std::unique_lock lock(state_->mutex);
        return state_->done_changed.wait_for(lock, bound, [this] { return state_->done; });
    }

    // After wait_for() returned true: the result, to the first caller only (several threads may
    // wait for the same connect; the others get nothing and start one of their own).
    std::optional<Result> take() {
        const std::lock_guard lock(state_->mutex);
        if (!state_->done || state_->taken) return std::nullopt;
        state_->taken = true;
        return std::move(state_->result);
    }

private:
    struct State {
        std::mutex mutex;
        std::condition_variable done_changed;
        bool done = false;
        bool taken = false;
        Result result;
    };

    static void run(State& state, const std::string& reader) noexcept {
        Result result;
        SCARDCONTEXT context = 0;
        result.rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &context);
        if (result.rv == SCARD_S_SUCCESS) {
            result.context = ScardContext::adopt(context);
            SCARDHANDLE handle = 0;
            result.rv = SCardConnect(context, reader.c_str(), SCARD_SHARE_SHARED,
                                     SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &handle, &result.protocol);
            if (result.rv == SCARD_S_SUCCESS) result.handle = ScardHandle(handle);
        }
        const std::lock_guard lock(state.mutex);
        state.result = std::move(result);
        state.done = true;
        state.done_changed.notify_all();
    }

    std::shared_ptr<State> state_;
    std::thread thread_;
};

}  // namespace jpki::transport
