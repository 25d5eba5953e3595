// A shared SCardConnect running on a helper thread, so that its caller can stop waiting for it
// (internal to the PC/SC transport).
#pragma once

#include "transport/scard.hpp"

#include <PCSC/winscard.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace jpki::transport {

// pcscd holds a shared connect for as long as another handle has the card's transaction
// (pcsc-lite 1.9.9 winscard.c SCardConnect polls hLockId, without end), and the client cannot
// abort it. So the connect runs here, on a context of its own; the caller waits for it as long
// as it likes and may come back for the result later. The destructor joins the thread: it waits
// for that other program's transaction to end (or for pcscd to go away).
class PendingConnect {
public:
    explicit PendingConnect(std::string reader)
        : reader_(std::move(reader)), thread_([this] { run(); }) {}
    ~PendingConnect() {
        if (thread_.joinable()) thread_.join();
    }
    PendingConnect(const PendingConnect&) = delete;
    PendingConnect& operator=(const PendingConnect&) = delete;
    PendingConnect(PendingConnect&&) = delete;
    PendingConnect& operator=(PendingConnect&&) = delete;

    // True once the connect has returned (result() is then ready).
    bool wait_for(std::chrono::milliseconds bound) {
        std::unique_lock lock(mutex_);
        return done_changed_.wait_for(lock, bound, [this] { return done_; });
    }

    struct Result {
        LONG rv = SCARD_E_NO_SERVICE;
        ScardContext context;
        ScardHandle handle;
        DWORD protocol = 0;
    };
    // After wait_for() returned true: the result, to the first caller only (several threads may
    // wait for the same connect; the others get nothing and start one of their own).
    std::optional<Result> take() {
        const std::lock_guard lock(mutex_);
        if (!done_ || taken_) return std::nullopt;
        taken_ = true;
        return std::move(result_);
    }

private:
    void run() noexcept {
        Result result;
        SCARDCONTEXT context = 0;
        result.rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &context);
        if (result.rv == SCARD_S_SUCCESS) {
            result.context = ScardContext::adopt(context);
            SCARDHANDLE handle = 0;
            result.rv = SCardConnect(context, reader_.c_str(), SCARD_SHARE_SHARED,
                                     SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &handle, &result.protocol);
            if (result.rv == SCARD_S_SUCCESS) result.handle = ScardHandle(handle);
        }
        const std::lock_guard lock(mutex_);
        result_ = std::move(result);
        done_ = true;
        done_changed_.notify_all();
    }

    std::string reader_;
    std::mutex mutex_;
    std::condition_variable done_changed_;
    bool done_ = false;
    bool taken_ = false;
    Result result_;
    std::thread thread_;  // last: starts once the members it uses exist
};

}  // namespace jpki::transport
