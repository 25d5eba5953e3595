#include "token/locking.hpp"

#include "token/errors.hpp"

namespace jpki::token {
namespace {

class OsLock final : public Lock {
public:
    void lock() override { mutex_.lock(); }
    void unlock() override { mutex_.unlock(); }

private:
    std::mutex mutex_;
};

// A mutex made by the application's CreateMutex; its Lock/Unlock answer CK_RV.
class ApplicationLock final : public Lock {
public:
    ApplicationLock(CK_CREATEMUTEX create, CK_DESTROYMUTEX destroy, CK_LOCKMUTEX lock,
                    CK_UNLOCKMUTEX unlock)
        : destroy_(destroy), lock_(lock), unlock_(unlock) {
        const CK_RV rv = create(&mutex_);
        if (rv != CKR_OK) throw Error(rv == CKR_HOST_MEMORY ? CKR_HOST_MEMORY : CKR_CANT_LOCK);
    }
    ~ApplicationLock() override { destroy_(mutex_); }
    ApplicationLock(const ApplicationLock&) = delete;
    ApplicationLock& operator=(const ApplicationLock&) = delete;

    void lock() override {
        if (lock_(mutex_) != CKR_OK) throw Error(CKR_CANT_LOCK);
    }
    void unlock() override { unlock_(mutex_); }

private:
    CK_VOID_PTR mutex_ = nullptr;
    CK_DESTROYMUTEX destroy_;
    CK_LOCKMUTEX lock_;
    CK_UNLOCKMUTEX unlock_;
};

}  // namespace

LockFactory::LockFactory(CK_CREATEMUTEX create, CK_DESTROYMUTEX destroy, CK_LOCKMUTEX lock,
                         CK_UNLOCKMUTEX unlock)
    : create_(create), destroy_(destroy), lock_(lock), unlock_(unlock) {}

std::unique_ptr<Lock> LockFactory::make() const {
    if (create_ != nullptr) return std::make_unique<ApplicationLock>(create_, destroy_, lock_, unlock_);
    return std::make_unique<OsLock>();
}

}  // namespace jpki::token
