// Sessions and login (PKCS#11 2.40 §5.6): opening and closing sessions, C_Login/C_Logout,
// C_SetPIN. Login state itself lives with the card (InsertedCard).
#include "token/module_state.hpp"

namespace jpki::token {

LockedSession ModuleState::session(CK_SESSION_HANDLE handle) {
    std::shared_ptr<Session> found;
    {
        std::lock_guard lock(*state_lock);
        const auto it = sessions.find(handle);
        if (it == sessions.end()) throw Error(CKR_SESSION_HANDLE_INVALID);
        found = it->second;
    }
    LockedSession locked(std::move(found));
    // Closed (or its card removed) while this call waited for another thread's call to end.
    if (locked->closed) throw Error(CKR_SESSION_HANDLE_INVALID);
    return locked;
}

void ModuleState::close_sessions_locked(const std::shared_ptr<InsertedCard>& card, std::optional<PinRole> role) {
    std::erase_if(sessions, [&](const auto& entry) {
        const bool match = entry.second->card == card && (!role || entry.second->role == *role);
        if (match) entry.second->closed = true;
        return match;
    });
}

void ModuleState::logout_card(const std::shared_ptr<InsertedCard>& card, PinRole role) {
    try {
        with_card(card, [&](InsertedCard& inserted) { inserted.logout(role); });
    } catch (const Error& error) {
        // The login is over in software whatever happened; the card may still hold the PIN.
        logger.error(std::string("could not reset the card to end the login on it: ") + error.what());
        throw;
    }
}

CK_SESSION_HANDLE Module::open_session(CK_SLOT_ID slot, CK_FLAGS flags) {
    const auto card = state_->present_card(slot);
    auto session = std::make_shared<Session>();
    session->slot = slot;
    session->role = role_of_slot(slot);
    session->flags = flags;
    session->card = card;
    session->busy = state_->locks.make();
    std::lock_guard lock(*state_->state_lock);
    session->handle = ++state_->last_session;
    state_->sessions.emplace(session->handle, session);
    return session->handle;
}

void Module::close_session(CK_SESSION_HANDLE handle) {
    const auto session = state_->session(handle);  // waits for a call in flight on it to end
    bool last_of_token = false;
    {
        std::lock_guard lock(*state_->state_lock);
        session->closed = true;
        state_->sessions.erase(handle);
        last_of_token = std::none_of(state_->sessions.begin(), state_->sessions.end(), [&](const auto& entry) {
            return entry.second->card == session->card && entry.second->role == session->role;
        });
    }
    // §5.6: closing the application's last session with a token logs it out, on the card too.
    if (last_of_token) state_->logout_card(session->card, session->role);
}

void Module::close_all_sessions(CK_SLOT_ID slot) {
    // A fresh look at the reader: a card that left took its sessions with it (refresh), and a
    // card inserted since must not be reset for the old card's logins.
    const auto card = state_->card_in_slot(slot);
    if (!card) return;
    {
        std::lock_guard lock(*state_->state_lock);
        state_->close_sessions_locked(card, role_of_slot(slot));
    }
    state_->logout_card(card, role_of_slot(slot));
}

CK_SESSION_INFO Module::session_info(CK_SESSION_HANDLE handle) {
    const auto session = state_->session(handle);
    bool logged_in = false;
    bool reset_pending = false;
    {
        std::lock_guard io(session->card->io());
        logged_in = session->card->logged_in(session->role);
        reset_pending = session->card->reset_pending();
    }
    // Only a logged-in session asks the card whether another program reset it. Not while a
    // logout's reset is still to be done (nothing is logged in then): NSS polls this call and
    // must not wait out another program's transaction for it.
    if (logged_in && !reset_pending) {
        logged_in = state_->with_card(session->card, [&](InsertedCard& card) {
            card.notice_reset();
            return card.logged_in(session->role);
        });
    }
    CK_SESSION_INFO info{};
    info.slotID = session->slot;
    info.flags = session->flags;
    info.ulDeviceError = 0;
    if (session->read_write())
        info.state = logged_in ? CKS_RW_USER_FUNCTIONS : CKS_RW_PUBLIC_SESSION;
    else
        info.state = logged_in ? CKS_RO_USER_FUNCTIONS : CKS_RO_PUBLIC_SESSION;
    return info;
}

void Module::login(CK_SESSION_HANDLE handle, CK_USER_TYPE user, SecureBytes pin) {
    const auto session = state_->session(handle);
    const PinRole role = session->role;
    const bool allow_final_try = state_->config.allow_final_try;
    if (user == CKU_USER || user == CKU_CONTEXT_SPECIFIC) require_pin_format(role, pin);
    state_->with_card(session->card, [&](InsertedCard& card) {
        if (role == PinRole::Sign && !card.has_sign_certificate()) throw Error(CKR_USER_PIN_NOT_INITIALIZED);
        switch (user) {
            case CKU_USER:
                if (card.logged_in(role)) throw Error(CKR_USER_ALREADY_LOGGED_IN);
                card.login(role, pin, allow_final_try);
                card.prove_pss_after_login(role);  // `pss = auto`, once per card (issue 12)
                return;
            case CKU_CONTEXT_SPECIFIC:
                // Re-authentication for a CKA_ALWAYS_AUTHENTICATE key's pending signature.
                // A wrong PIN leaves the login as it was (no logout first: that would reset the card).
                if (!session->sign || !session->sign->always_authenticate) throw Error(CKR_OPERATION_NOT_INITIALIZED);
                card.login(role, pin, allow_final_try);
                session->sign->context_authenticated = true;
                return;
            case CKU_SO:
                // The card has no security officer: PINs are reset at the municipal office.
            default:
                throw Error(CKR_USER_TYPE_INVALID);
        }
    });
}

void Module::logout(CK_SESSION_HANDLE handle) {
    const auto session = state_->session(handle);
    {
        std::lock_guard io(session->card->io());
        if (!session->card->logged_in(session->role)) throw Error(CKR_USER_NOT_LOGGED_IN);
    }
    // Ends the login on the card as well (a card reset: issue 7 item 3).
    state_->logout_card(session->card, session->role);
}

void Module::check_session(CK_SESSION_HANDLE handle) { static_cast<void>(state_->session(handle)); }

void Module::set_pin(CK_SESSION_HANDLE handle, SecureBytes old_pin, SecureBytes new_pin) {
    const auto session = state_->session(handle);
    if (!session->read_write()) throw Error(CKR_SESSION_READ_ONLY);  // §5.6 C_SetPIN
    require_pin_format(session->role, old_pin);
    require_pin_format(session->role, new_pin);
    state_->with_card(session->card, [&](InsertedCard& card) {
        if (session->role == PinRole::Sign && !card.has_sign_certificate()) throw Error(CKR_USER_PIN_NOT_INITIALIZED);
        card.change_pin(session->role, old_pin, new_pin, state_->config.allow_final_try);
    });
}

}  // namespace jpki::token
