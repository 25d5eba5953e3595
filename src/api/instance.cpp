#include "api/instance.hpp"

#include "token/errors.hpp"
#include "transport/pcsc.hpp"

#include <unistd.h>

#include <mutex>
#include <new>
#include <string_view>

namespace jpki::api {

// Frees the one instance when the module is unloaded (dlclose, or exit) after C_Finalize, so a
// host that loads and unloads the module (Firefox's device manager, p11-kit, api_module_tests)
// leaks nothing per load. Still initialised, or busy, it is left alone: another thread may yet be
// inside a C_* call, and a forked child's module_ holds its parent's PC/SC handles.
struct InstanceRelease {
    Instance* instance;
    ~InstanceRelease() {
        std::unique_lock lock(instance->lifetime_, std::try_to_lock);
        if (!lock.owns_lock() || instance->module_) return;
        lock.unlock();
        delete instance;
    }
};

Instance& Instance::get() {
    // The one module instance; constructed on first use, never destroyed while initialised.
    static Instance* instance = new Instance();
    static InstanceRelease release{instance};
    return *instance;
}

Instance::Instance()
    : transport_factory_([] { return std::make_unique<transport::PcscTransport>(); }) {}

void Instance::set_transport_factory(TransportFactory factory) {
    std::unique_lock lock(lifetime_);
    transport_factory_ = std::move(factory);
}

CK_RV Instance::initialize(CK_VOID_PTR init_args) {
    try {
        std::unique_lock lock(lifetime_);
        if (module_ && owner_pid_ == getpid()) return CKR_CRYPTOKI_ALREADY_INITIALIZED;
        if (module_) {
            // A forked child: the parent's PC/SC handles are the parent's; releasing them here
            // would talk to pcscd on the parent's behalf. Forget them without touching them.
            static_cast<void>(module_.release());
        }

        token::LockFactory locks;
        std::string_view reserved;
        if (init_args != nullptr) {
            const auto* args = static_cast<const CK_C_INITIALIZE_ARGS*>(init_args);
            const bool all_set = args->CreateMutex && args->DestroyMutex && args->LockMutex && args->UnlockMutex;
            const bool none_set = !args->CreateMutex && !args->DestroyMutex && !args->LockMutex && !args->UnlockMutex;
            if (!all_set && !none_set) return CKR_ARGUMENTS_BAD;
            // §5.4: callbacks without CKF_OS_LOCKING_OK must be used; with it, the OS's are fine.
            if (all_set && (args->flags & CKF_OS_LOCKING_OK) == 0)
                locks = token::LockFactory(args->CreateMutex, args->DestroyMutex, args->LockMutex,
                                           args->UnlockMutex);
            // pReserved carries p11-kit's x-init-reserved configuration string (DESIGN.md §3).
            if (args->pReserved != nullptr) reserved = static_cast<const char*>(args->pReserved);
        }
        const token::Config config = token::resolve_config(token::system_config_sources(reserved));
        module_ = std::make_unique<token::Module>(config, transport_factory_(), locks);
        owner_pid_ = getpid();
        return CKR_OK;
    } catch (...) {
        return rv_from_current_exception();
    }
}

CK_RV Instance::finalize(CK_VOID_PTR reserved) {
    if (reserved != nullptr) return CKR_ARGUMENTS_BAD;
    try {
        {
            // Wake any C_WaitForSlotEvent first: it holds the lifetime lock shared while it waits.
            std::shared_lock lock(lifetime_);
            if (!module_ || owner_pid_ != getpid()) return CKR_CRYPTOKI_NOT_INITIALIZED;
            module_->cancel_waits();
        }
        std::unique_lock lock(lifetime_);
        if (!module_ || owner_pid_ != getpid()) return CKR_CRYPTOKI_NOT_INITIALIZED;
        module_.reset();
        return CKR_OK;
    } catch (...) {
        return rv_from_current_exception();
    }
}

CK_RV Instance::with_module(const std::function<CK_RV(token::Module&)>& body) {
    try {
        std::shared_lock lock(lifetime_);
        if (!module_ || owner_pid_ != getpid()) return CKR_CRYPTOKI_NOT_INITIALIZED;
        try {
            return body(*module_);
        } catch (const token::Error& error) {
            // Why a call failed, in words (JPKI_PKCS11_LOG=info); never a PIN (none is in a message).
            module_->logger().info(token::rv_name(error.rv()) + ": " + error.what());
            throw;
        }
    } catch (...) {
        return rv_from_current_exception();
    }
}

CK_RV rv_from_current_exception() noexcept {
    try {
        throw;
    } catch (const token::Error& error) {
        return error.rv();
    } catch (const std::bad_alloc&) {
        return CKR_HOST_MEMORY;
    } catch (...) {
        // Anything else is our bug or a library's; the host application keeps running.
        return CKR_GENERAL_ERROR;
    }
}

}  // namespace jpki::api
