// A PKCS#11 session (2.40 §5.6): its slot, the card it was opened on, and the operations it
// has active. Handles are never reused. A session belongs to one insertion of one card: when
// that card leaves, the session is closed.
#pragma once

#include "crypto/rsa.hpp"
#include "jpki/pkcs11.hpp"
#include "token/inserted_card.hpp"
#include "token/mechanisms.hpp"

#include <memory>
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
    CK_SESSION_HANDLE handle;
    CK_SLOT_ID slot;
    PinRole role;  // which of the card's two tokens the slot shows
    CK_FLAGS flags;
    std::shared_ptr<InsertedCard> card;

    std::optional<std::vector<CK_OBJECT_HANDLE>> found{};  // C_FindObjectsInit .. Final
    std::size_t found_next = 0;
    std::optional<SignOperation> sign{};
    std::optional<VerifyOperation> verify{};

    [[nodiscard]] bool read_write() const { return (flags & CKF_RW_SESSION) != 0; }
};

}  // namespace jpki::token
