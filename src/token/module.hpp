// The token layer's face (docs/design.md §2 src/token): slots, tokens, sessions, objects, login
// state and sign operations, in PKCS#11 terms. The C API layer above checks arguments and
// pointers and calls exactly one method here per C_* function; everything below (the card
// protocol, the transport) is reached only from inside this layer.
//
// Errors leave as token::Error carrying the CK_RV to return; the C API's one guard maps them.
#pragma once

#include "jpki/pkcs11.hpp"
#include "jpki/secure_bytes.hpp"
#include "jpki/transport.hpp"
#include "token/config.hpp"
#include "token/locking.hpp"
#include "token/log.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace jpki::token {

class ModuleState;  // slots, cards, sessions: token/module_state.hpp

class Module {
public:
    Module(Config config, std::unique_ptr<transport::Transport> transport, LockFactory locks);
    ~Module();
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;

    // Slots and tokens (PKCS#11 2.40 §5.5).
    std::vector<CK_SLOT_ID> slot_list(bool token_present_only);
    CK_SLOT_INFO slot_info(CK_SLOT_ID slot);
    CK_TOKEN_INFO token_info(CK_SLOT_ID slot);
    std::vector<CK_MECHANISM_TYPE> mechanism_list(CK_SLOT_ID slot);
    CK_MECHANISM_INFO mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type);
    // The slot whose token appeared, left or was reset; nullopt when dont_block and none did.
    // Throws Error(CKR_CRYPTOKI_NOT_INITIALIZED) when cancelled by C_Finalize.
    std::optional<CK_SLOT_ID> wait_for_slot_event(bool dont_block);
    // Wakes every blocked wait_for_slot_event (C_Finalize calls it before tearing down).
    void cancel_waits() noexcept;

    // Sessions and login (§5.6).
    CK_SESSION_HANDLE open_session(CK_SLOT_ID slot, CK_FLAGS flags);
    void close_session(CK_SESSION_HANDLE session);
    void close_all_sessions(CK_SLOT_ID slot);
    CK_SESSION_INFO session_info(CK_SESSION_HANDLE session);
    void login(CK_SESSION_HANDLE session, CK_USER_TYPE user, SecureBytes pin);
    void logout(CK_SESSION_HANDLE session);
    void set_pin(CK_SESSION_HANDLE session, SecureBytes old_pin, SecureBytes new_pin);

    // Objects (§5.7). get_attribute_value fills the template following §5.7.5 and returns the
    // CK_RV that rule prescribes (it may be an error with the template still filled).
    void find_objects_init(CK_SESSION_HANDLE session, std::span<const CK_ATTRIBUTE> match);
    std::vector<CK_OBJECT_HANDLE> find_objects(CK_SESSION_HANDLE session, std::size_t max);
    void find_objects_final(CK_SESSION_HANDLE session);
    CK_RV get_attribute_value(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                              std::span<CK_ATTRIBUTE> attributes);

    // Signing (§5.11) and software verification (§5.13). signature_length answers the
    // length-query half of the two-call convention without touching the card.
    void sign_init(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key);
    std::size_t signature_length(CK_SESSION_HANDLE session);
    Bytes sign(CK_SESSION_HANDLE session, std::span<const std::uint8_t> data);
    // `part` nullopt: the caller passed a bad buffer (CKR_ARGUMENTS_BAD, ending the operation).
    void sign_update(CK_SESSION_HANDLE session, std::optional<std::span<const std::uint8_t>> part);
    Bytes sign_final(CK_SESSION_HANDLE session);
    void verify_init(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key);
    void verify(CK_SESSION_HANDLE session, std::span<const std::uint8_t> data,
                std::span<const std::uint8_t> signature);
    void verify_update(CK_SESSION_HANDLE session, std::optional<std::span<const std::uint8_t>> part);
    void verify_final(CK_SESSION_HANDLE session, std::span<const std::uint8_t> signature);

    [[nodiscard]] const Logger& logger() const;

    // Ends every login this module made on every card, on the card too (a reset where a PIN
    // may still be verified: issue 7 item 3). C_Finalize calls it with wait_for_calls; the
    // process-exit handler without, taking no lock, because another thread may be stopped for
    // ever inside a call holding one (best effort, at exit only). False when a card may still
    // hold a PIN (another program kept it busy through every try); that is logged.
    bool end_logins(bool wait_for_calls) noexcept;

    // Throws Error(CKR_SESSION_HANDLE_INVALID) unless the handle names an open session (for
    // calls that need nothing else of the session, e.g. C_SeedRandom).
    void check_session(CK_SESSION_HANDLE session);

private:
    std::unique_ptr<ModuleState> state_;
};

}  // namespace jpki::token
