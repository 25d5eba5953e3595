// Locks that honour C_Initialize's locking choice (PKCS#11 2.40 §5.4): the application's mutex
// callbacks when it supplies them without CKF_OS_LOCKING_OK, the OS's otherwise. Every lock of
// the token layer (its state lock, one I/O lock per card) is made by a LockFactory.
#pragma once

#include "jpki/pkcs11.hpp"

#include <memory>
#include <mutex>

namespace jpki::token {

// BasicLockable, so std::lock_guard / std::unique_lock work with it.
class Lock {
public:
    virtual ~Lock() = default;
    virtual void lock() = 0;
    virtual void unlock() = 0;
};

class LockFactory {
public:
    // OS locking (std::mutex).
    LockFactory() = default;
    // The application's callbacks; all four must be non-null.
    LockFactory(CK_CREATEMUTEX create, CK_DESTROYMUTEX destroy, CK_LOCKMUTEX lock,
                CK_UNLOCKMUTEX unlock);

    [[nodiscard]] std::unique_ptr<Lock> make() const;
    [[nodiscard]] bool uses_application_callbacks() const { return create_ != nullptr; }

private:
    CK_CREATEMUTEX create_ = nullptr;
    CK_DESTROYMUTEX destroy_ = nullptr;
    CK_LOCKMUTEX lock_ = nullptr;
    CK_UNLOCKMUTEX unlock_ = nullptr;
};

}  // namespace jpki::token
