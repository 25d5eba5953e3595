// A PKCS#11 session (2.40 §5.6): its slot, the card it was opened on, and the operations it
// has active. Handles are never reused. A session belongs to one insertion of one card: when
// that card leaves, the session is closed.
#pragma once

#include "crypto/rsa.hpp"
#include "jpki/pkcs11.hpp"
#include "token/inserted_card.hpp"
#include "token/mechanisms.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace jpki::token {

struct SignOperation {
    DataCollector data;
    PinRole key;
    bool always_authenticate = false;    // CKA_ALWAYS_AUTHENTICATE key (config switch)
    bool context_authenticated = false;  // ... and C_Login(CKU_CONTEXT_SPECIFIC) done for it
};

struct VerifyOperation {
    DataCollector data;
    crypto::RsaPublicKey key;
};

struct Session {
    CK_SESSION_HANDLE handle = 0;
    CK_SLOT_ID slot = 0;
    PinRole role = PinRole::Auth;  // which of the card's two tokens the slot shows
    CK_FLAGS flags = 0;
    std::shared_ptr<InsertedCard> card;
    // Serialises calls on this session (see LockedSession); `closed` is set under the module's
    // state lock when the session leaves the table, so a call that waited on `busy` sees it.
    std::unique_ptr<Lock> busy;
    std::atomic<bool> closed{false};

    std::optional<std::vector<CK_OBJECT_HANDLE>> found{};  // C_FindObjectsInit .. Final
    std::size_t found_next = 0;
    std::optional<SignOperation> sign{};
    std::optional<VerifyOperation> verify{};

    [[nodiscard]] bool read_write() const { return (flags & CKF_RW_SESSION) != 0; }
};

// A session with its lock held: what ModuleState::session() hands a Module method for the
// length of one call. Behaves like a pointer to the Session.
class LockedSession {
public:
    explicit LockedSession(std::shared_ptr<Session> session)
        : session_(std::move(session)), guard_(*session_->busy) {}
    Session* operator->() const { return session_.get(); }
    Session& operator*() const { return *session_; }

private:
    std::shared_ptr<Session> session_;
    std::unique_lock<Lock> guard_;
};

}  // namespace jpki::token
