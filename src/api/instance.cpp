#include "api/instance.hpp"

#include "token/errors.hpp"
#include "token/log.hpp"
#include "transport/pcsc.hpp"

#include <sys/uio.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>

namespace jpki::api {
namespace {

// Longest pReserved string we look at: p11-kit's x-init-reserved is one short line.
constexpr std::size_t kMaxReservedLength = 4096;

// Copies up to `length` bytes at `address` of our own memory into `out`; false when any of it
// is not mapped readable. process_vm_readv on our own pid answers EFAULT for such memory where
// a plain read would fault: the host application must not die of a bad pointer.
bool copy_if_readable(std::uintptr_t address, char* out, std::size_t length) {
    iovec local{out, length};
    // NOLINTNEXTLINE(performance-no-int-to-ptr): the address is the caller's, checked by the kernel.
    iovec remote{reinterpret_cast<void*>(address), length};
    const ssize_t copied = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (copied >= 0 || (errno != ENOSYS && errno != EPERM)) return copied == static_cast<ssize_t>(length);
    // A sandbox that forbids process_vm_readv: write(2) into a pipe also answers EFAULT
    // instead of faulting (length is far below the pipe's capacity, so it never blocks).
    struct Pipe {
        int fds[2] = {-1, -1};
        Pipe(const Pipe&) = delete;
        Pipe& operator=(const Pipe&) = delete;
        Pipe() = default;
        ~Pipe() {
            for (const int fd : fds)
                if (fd >= 0) close(fd);
        }
    } pipe;
    if (pipe2(pipe.fds, O_CLOEXEC) != 0) return false;
    // NOLINTNEXTLINE(performance-no-int-to-ptr): as above.
    return write(pipe.fds[1], reinterpret_cast<const void*>(address), length) == static_cast<ssize_t>(length) &&
           read(pipe.fds[0], out, length) == static_cast<ssize_t>(length);
}

// C_Initialize's pReserved: PKCS#11 2.40 §5.4 says it must be NULL, but p11-kit passes its
// x-init-reserved string there, so we accept a pointer only if it leads, through readable
// memory, to printable ASCII text ending in NUL within kMaxReservedLength bytes. Anything else
// (a small integer, a freed or unmapped page, binary data, a string without an end) is nullopt.
// Read page by page so that a short string at the end of the last mapped page is still found.
std::optional<std::string> reserved_string(const void* pointer) {
    const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    auto address = reinterpret_cast<std::uintptr_t>(pointer);
    std::string text;
    while (text.size() <= kMaxReservedLength) {
        const std::size_t to_page_end = page - address % page;
        const std::size_t chunk = std::min(to_page_end, kMaxReservedLength + 1 - text.size());
        char buffer[kMaxReservedLength + 1];
        if (address + chunk < address || !copy_if_readable(address, buffer, chunk)) return std::nullopt;
        for (std::size_t i = 0; i < chunk; ++i) {
            const char c = buffer[i];
            if (c == '\0') return text;
            const bool printable = (c >= 0x20 && c < 0x7F) || c == '\t' || c == '\n' || c == '\r';
            if (!printable) return std::nullopt;
            text.push_back(c);
        }
        address += chunk;
    }
    return std::nullopt;  // no NUL within the bound
}

}  // namespace

Instance& Instance::get() {
    // The one module instance; constructed on first use, never destroyed: the module is linked
    // with -z nodelete (it stays loaded, so nothing leaks per dlopen), and the exit handler below
    // still needs it when the process ends.
    static Instance* instance = new Instance();
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
        std::string reserved;
        if (init_args != nullptr) {
            const auto* args = static_cast<const CK_C_INITIALIZE_ARGS*>(init_args);
            const bool all_set = args->CreateMutex && args->DestroyMutex && args->LockMutex && args->UnlockMutex;
            const bool none_set = !args->CreateMutex && !args->DestroyMutex && !args->LockMutex && !args->UnlockMutex;
            if (!all_set && !none_set) return CKR_ARGUMENTS_BAD;
            // §5.4: callbacks without CKF_OS_LOCKING_OK must be used; with it, the OS's are fine.
            if (all_set && (args->flags & CKF_OS_LOCKING_OK) == 0)
                locks = token::LockFactory(args->CreateMutex, args->DestroyMutex, args->LockMutex,
                                           args->UnlockMutex);
            // pReserved carries p11-kit's x-init-reserved configuration string (docs/design.md §3).
            if (args->pReserved != nullptr) {
                auto text = reserved_string(args->pReserved);
                if (!text) {
                    token::Logger(token::LogLevel::Error)
                        .error("C_Initialize fails with CKR_ARGUMENTS_BAD: pReserved is not a configuration "
                               "string (printable text of at most 4095 bytes, e.g. p11-kit's x-init-reserved: "
                               "slots=sign); PKCS#11 2.40 wants it NULL");
                    return CKR_ARGUMENTS_BAD;
                }
                reserved = std::move(*text);
            }
        }
        token::Config config;
        try {
            config = token::resolve_config(token::system_config_sources(reserved));
        } catch (const token::Error& error) {
            // At the default level: without it the application only says "no slots" (issue 7).
            token::Logger(token::LogLevel::Error)
                .error(std::string("C_Initialize fails with ") + token::rv_name(error.rv()) +
                       " because of the configuration: " + error.what());
            throw;
        }
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
        // No login of ours may outlive the module on the card (issue 7 item 3); when another
        // program kept the card busy through every try, say so rather than CKR_OK.
        const bool logins_ended = module_->end_logins(true);
        module_.reset();
        return logins_ended ? CKR_OK : CKR_FUNCTION_FAILED;
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

void Instance::end_logins_at_exit() noexcept {
    // A C_Initialize or C_Finalize in flight holds the lock exclusively: leave it to them.
    if (!lifetime_.try_lock_shared()) return;
    std::shared_lock lock(lifetime_, std::adopt_lock);
    if (module_ && owner_pid_ == getpid()) static_cast<void>(module_->end_logins(false));
}

namespace {

// pcscd leaves a card as it is when a client goes away without a transaction (pcsc-lite 1.9.9
// winscard_svc.c MSGRemoveContext: SCARD_LEAVE_CARD), so a process that exits logged in without
// C_Finalize would leave the card signing for any other program. Runs at exit() and dlclose();
// nothing can run at SIGKILL.
__attribute__((destructor)) void end_logins_at_exit() { Instance::get().end_logins_at_exit(); }

}  // namespace

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
