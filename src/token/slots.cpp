// Slots, tokens and slot events (PKCS#11 2.40 §5.5): the reader table, probing cards, token
// info and flags, mechanisms, C_WaitForSlotEvent.
#include "token/module_state.hpp"

namespace jpki::token {

void ModuleState::refresh() {
    std::vector<transport::ReaderStatus> statuses;
    try {
        statuses = transport->readers();
    } catch (const transport::ServiceUnavailable&) {
        statuses.clear();  // pcscd gone: every known reader reads as empty until it is back
    }
    // Which readers hold a card we have not probed yet? Decide under the lock, probe outside it.
    std::vector<transport::ReaderStatus> to_probe;
    {
        std::lock_guard lock(*state_lock);
        // Both slots of the reader changed. Cards present at the first look are no event: the
        // application sees them in its first slot list.
        const auto slots_changed = [&](std::size_t index) {
            if (!readers_seen) return;
            events.push_back(2 * index);
            events.push_back(2 * index + 1);
        };
        for (std::size_t index = 0; index < readers.size(); ++index) {
            Reader& reader = readers[index];
            const bool still_listed = std::any_of(statuses.begin(), statuses.end(),
                                                  [&](const auto& s) { return s.name == reader.name; });
            if (!still_listed && reader.card_present) {
                reader.card_present = false;
                if (reader.card) close_sessions_locked(reader.card, std::nullopt);
                reader.card.reset();
                slots_changed(index);
            }
        }
        for (const auto& status : statuses) {
            auto it = std::find_if(readers.begin(), readers.end(), [&](const Reader& r) { return r.name == status.name; });
            if (it == readers.end()) {
                readers.push_back(Reader{.name = status.name});
                it = readers.end() - 1;
            }
            const bool same = it->card_present == status.card_present && it->atr == status.atr &&
                              it->event_count == status.event_count;
            if (same) continue;
            if (it->card) close_sessions_locked(it->card, std::nullopt);
            it->card.reset();
            it->card_present = status.card_present;
            it->atr = status.atr;
            it->event_count = status.event_count;
            slots_changed(static_cast<std::size_t>(it - readers.begin()));
            if (status.card_present) to_probe.push_back(status);
        }
        readers_seen = true;
    }
    for (const auto& status : to_probe) {
        std::shared_ptr<InsertedCard> card;
        try {
            card = InsertedCard::open(*transport, status.name, crypto, locks, object_handles,
                                      config.always_authenticate);
        } catch (const transport::Error&) {
            continue;  // gone again, or unusable: the slot shows no token
        }
        std::lock_guard lock(*state_lock);
        for (Reader& reader : readers)
            if (reader.name == status.name && reader.event_count == status.event_count && !reader.card)
                reader.card = card;
    }
}

void ModuleState::check_slot(CK_SLOT_ID slot) {
    std::lock_guard lock(*state_lock);
    if (slot / 2 >= readers.size() || !profile_shows(config.slots, role_of_slot(slot))) throw Error(CKR_SLOT_ID_INVALID);
}

std::shared_ptr<InsertedCard> ModuleState::card_in_slot(CK_SLOT_ID slot, bool refresh_first) {
    if (!refresh_first) {
        // A slot the table does not know yet (no C_GetSlotList since C_Initialize, or a reader
        // plugged in since): look at the readers before calling the ID invalid.
        std::lock_guard lock(*state_lock);
        refresh_first = slot / 2 >= readers.size();
    }
    if (refresh_first) refresh();
    check_slot(slot);
    std::lock_guard lock(*state_lock);
    return readers[slot / 2].card;
}

std::shared_ptr<InsertedCard> ModuleState::present_card(CK_SLOT_ID slot) {
    auto card = card_in_slot(slot, false);
    if (!card) card = card_in_slot(slot, true);
    if (!card) throw Error(CKR_TOKEN_NOT_PRESENT);
    return card;
}

void ModuleState::card_gone(const std::shared_ptr<InsertedCard>& card) {
    std::lock_guard lock(*state_lock);
    close_sessions_locked(card, std::nullopt);
    for (Reader& reader : readers) {
        if (reader.card != card) continue;
        reader.card.reset();
        // Forget what we saw, so the next refresh probes whatever is in the reader then.
        reader.card_present = false;
        reader.event_count = 0;
        reader.atr.clear();
    }
}

Module::Module(Config config, std::unique_ptr<transport::Transport> transport, LockFactory locks)
    : state_(std::make_unique<ModuleState>(std::move(config), std::move(transport), locks)) {}

Module::~Module() = default;

const Logger& Module::logger() const { return state_->logger; }

std::vector<CK_SLOT_ID> Module::slot_list(bool token_present_only) {
    state_->refresh();
    std::lock_guard lock(*state_->state_lock);
    std::vector<CK_SLOT_ID> slots;
    for (std::size_t index = 0; index < state_->readers.size(); ++index) {
        for (const PinRole role : {PinRole::Auth, PinRole::Sign}) {
            if (!profile_shows(state_->config.slots, role)) continue;
            if (token_present_only && !state_->readers[index].card) continue;
            slots.push_back(2 * index + (role == PinRole::Sign ? 1 : 0));
        }
    }
    return slots;
}

CK_SLOT_INFO Module::slot_info(CK_SLOT_ID slot) {
    // NSS polls C_GetSlotInfo for CKF_TOKEN_PRESENT: it must see removal and insertion.
    const auto card = state_->card_in_slot(slot, true);
    CK_SLOT_INFO info{};
    {
        std::lock_guard lock(*state_->state_lock);
        pad_copy(info.slotDescription, state_->readers[slot / 2].name);
    }
    pad_copy(info.manufacturerID, "jpki-pkcs11");
    info.flags = CKF_REMOVABLE_DEVICE | CKF_HW_SLOT | (card ? CKF_TOKEN_PRESENT : 0);
    return info;
}

CK_TOKEN_INFO Module::token_info(CK_SLOT_ID slot) {
    const auto card = state_->present_card(slot);
    const PinRole role = role_of_slot(slot);
    return state_->with_card(card, [&](InsertedCard& inserted) {
        CK_TOKEN_INFO info{};
        pad_copy(info.manufacturerID, "J-LIS");
        pad_copy(info.model, inserted.info().label);  // EF 0006, e.g. JPKIAPICCTOKEN2
        pad_copy(info.serialNumber, inserted.serial());
        const auto& rules = card::pin_rules(role);
        info.ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
        info.ulSessionCount = CK_UNAVAILABLE_INFORMATION;
        info.ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
        info.ulRwSessionCount = CK_UNAVAILABLE_INFORMATION;
        info.ulMaxPinLen = rules.max_length;
        info.ulMinPinLen = rules.min_length;
        info.ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
        info.ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
        info.ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
        info.ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
        info.hardwareVersion = {1, 0};
        info.firmwareVersion = {1, 0};
        pad_copy(info.utcTime, "");
        info.flags = CKF_TOKEN_INITIALIZED | CKF_WRITE_PROTECTED | CKF_RNG;
        if (role == PinRole::Sign && !inserted.has_sign_certificate()) {
            pad_copy(info.label, kNoSignLabel);
            return info;
        }
        pad_copy(info.label, role == PinRole::Auth ? kAuthLabel : kSignLabel);
        info.flags |= CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED;
        const int left = inserted.tries_left(role);
        if (left == 0) {
            info.flags |= CKF_USER_PIN_LOCKED;
        } else if (left < rules.max_tries) {
            info.flags |= CKF_USER_PIN_COUNT_LOW;
            if (left == 1) info.flags |= CKF_USER_PIN_FINAL_TRY;
        }
        return info;
    });
}

std::vector<CK_MECHANISM_TYPE> Module::mechanism_list(CK_SLOT_ID slot) {
    const auto card = state_->present_card(slot);
    if (role_of_slot(slot) == PinRole::Sign &&
        !state_->with_card(card, [](InsertedCard& inserted) { return inserted.has_sign_certificate(); }))
        return {};
    return sign_mechanisms();
}

CK_MECHANISM_INFO Module::mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type) {
    const auto mechanisms = mechanism_list(slot);
    if (std::find(mechanisms.begin(), mechanisms.end(), type) == mechanisms.end()) throw Error(CKR_MECHANISM_INVALID);
    return token::mechanism_info(type);
}

std::optional<CK_SLOT_ID> Module::wait_for_slot_event(bool dont_block) {
    const auto pop_event = [&]() -> std::optional<CK_SLOT_ID> {
        std::lock_guard lock(*state_->state_lock);
        while (!state_->events.empty()) {
            const CK_SLOT_ID slot = state_->events.front();
            state_->events.pop_front();
            if (profile_shows(state_->config.slots, role_of_slot(slot))) return slot;
        }
        return std::nullopt;
    };
    state_->refresh();
    if (auto slot = pop_event()) return slot;
    if (dont_block) return std::nullopt;
    while (!state_->waits_cancelled) {
        // Slices, so a cancel that raced the start of a wait is still seen soon.
        if (state_->transport->wait_for_change(std::chrono::seconds(1))) {
            state_->refresh();
            if (auto slot = pop_event()) return slot;
        }
    }
    throw Error(CKR_CRYPTOKI_NOT_INITIALIZED, "C_Finalize called during C_WaitForSlotEvent");
}

void Module::cancel_waits() noexcept {
    state_->waits_cancelled = true;
    state_->transport->cancel_wait();
}

}  // namespace jpki::token
