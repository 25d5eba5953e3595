// The one module instance (brief: "no global state outside the one module instance"): what
// C_Initialize builds and C_Finalize tears down, and the guard every C_* call runs through.
#pragma once

#include "jpki/pkcs11.hpp"
#include "jpki/transport.hpp"
#include "token/module.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <sys/types.h>

namespace jpki::api {

using TransportFactory = std::function<std::unique_ptr<transport::Transport>()>;

class Instance {
public:
    static Instance& get();

    CK_RV initialize(CK_VOID_PTR init_args);
    CK_RV finalize(CK_VOID_PTR reserved);

    // Runs body(module) under the lifetime lock after the "initialised, in this process?"
    // check, and turns every exception into the CK_RV it stands for (docs/design.md §7: one guard).
    CK_RV with_module(const std::function<CK_RV(token::Module&)>& body);

    // At process exit (or dlclose) without C_Finalize: ends this process's logins on the cards
    // (issue 7 item 3), best effort, taking no lock another thread could hold for ever.
    void end_logins_at_exit() noexcept;

    // Which transport C_Initialize builds: PC/SC unless a test installs the in-process card.
    void set_transport_factory(TransportFactory factory);

private:
    Instance();
    // C_Initialize/C_Finalize take it exclusively, every other call shared: a call never sees
    // a half-built or half-destroyed module. Card I/O does not serialise on it.
    std::shared_mutex lifetime_;
    std::unique_ptr<token::Module> module_;
    pid_t owner_pid_ = 0;  // after fork() the child must C_Initialize again (docs/design.md §3)
    TransportFactory transport_factory_;
};

// Maps any exception escaping the token layer to a CK_RV; never throws.
CK_RV rv_from_current_exception() noexcept;

}  // namespace jpki::api
