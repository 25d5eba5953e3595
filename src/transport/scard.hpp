// Owners of the two PC/SC resources (docs/design.md §7: RAII for SCARDCONTEXT and SCARDHANDLE).
#pragma once

#include <PCSC/winscard.h>

#include <utility>

namespace jpki::transport {

// One SCARDCONTEXT. pcsc-lite wants one context per thread (except SCardCancel, which must use
// the context of the SCardGetStatusChange it cancels), so each user here owns its own.
class ScardContext {
public:
    ScardContext() noexcept = default;  // holds nothing
    // SCardEstablishContext(SCARD_SCOPE_SYSTEM); throws via map_pcsc_error (ServiceUnavailable
    // when pcscd is not running).
    [[nodiscard]] static ScardContext establish();
    // Takes ownership of a context established elsewhere.
    [[nodiscard]] static ScardContext adopt(SCARDCONTEXT handle) noexcept { return ScardContext(handle); }

    ~ScardContext() { release(); }
    ScardContext(ScardContext&& other) noexcept
        : handle_(other.handle_), valid_(std::exchange(other.valid_, false)) {}
    ScardContext& operator=(ScardContext&& other) noexcept {
        if (this != &other) {
            release();
            handle_ = other.handle_;
            valid_ = std::exchange(other.valid_, false);
        }
        return *this;
    }
    ScardContext(const ScardContext&) = delete;
    ScardContext& operator=(const ScardContext&) = delete;

    [[nodiscard]] SCARDCONTEXT get() const noexcept { return handle_; }
    [[nodiscard]] bool valid() const noexcept { return valid_; }
    explicit operator bool() const noexcept { return valid_; }
    // SCardReleaseContext; errors ignored (after a pcscd restart there is nothing to release).
    void release() noexcept;

private:
    explicit ScardContext(SCARDCONTEXT handle) noexcept : handle_(handle), valid_(true) {}
    SCARDCONTEXT handle_ = 0;
    bool valid_ = false;  // separate flag: pcsc-lite gives no guarantee that 0 is never a handle
};

// One SCARDHANDLE; disconnects with SCARD_LEAVE_CARD (never resets or powers down the card:
// another program may be using it, and a reset would drop its PIN state too).
class ScardHandle {
public:
    ScardHandle() noexcept = default;
    explicit ScardHandle(SCARDHANDLE handle) noexcept : handle_(handle), valid_(true) {}
    ~ScardHandle() { disconnect(); }
    ScardHandle(ScardHandle&& other) noexcept
        : handle_(other.handle_), valid_(std::exchange(other.valid_, false)) {}
    ScardHandle& operator=(ScardHandle&& other) noexcept {
        if (this != &other) {
            disconnect();
            handle_ = other.handle_;
            valid_ = std::exchange(other.valid_, false);
        }
        return *this;
    }
    ScardHandle(const ScardHandle&) = delete;
    ScardHandle& operator=(const ScardHandle&) = delete;

    [[nodiscard]] SCARDHANDLE get() const noexcept { return handle_; }
    [[nodiscard]] bool valid() const noexcept { return valid_; }
    void disconnect() noexcept;

private:
    SCARDHANDLE handle_ = 0;
    bool valid_ = false;
};

}  // namespace jpki::transport
