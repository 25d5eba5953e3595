// Slots, tokens and slot events (PKCS#11 2.40 §5.5): the reader table, probing cards, token
// info and flags, mechanisms, C_WaitForSlotEvent.
#include "token/module_state.hpp"

namespace jpki::token {

namespace {

using Clock = std::chrono::steady_clock;

// Back-off between probes of a card that could not be opened: 250 ms, doubling, at most 2 s
// (issue 7 item 1: retried on later calls, not on every one of NSS's once-a-second polls).
constexpr std::chrono::milliseconds kFirstRetry{250};
constexpr std::chrono::milliseconds kMaxRetry{2000};
// A card another program keeps in a transaction makes each try wait the transport's 5 s: one
// try every 5 s at first, then at most every 20 s, so that not every call is slowed.
constexpr std::chrono::milliseconds kFirstBusyRetry{5000};
constexpr std::chrono::milliseconds kMaxBusyRetry{20000};
// How stale the PIN counters in C_GetTokenInfo may get (issue 7 item 6): another program may
// spend tries; re-reading costs 2 APDUs per PIN (SELECT PIN EF + empty VERIFY, no try spent).
constexpr auto kTriesMaxAge = std::chrono::seconds(5);

// The one log line per condition when nothing can work (issue 7 item 7): what is missing and
// what to do. Logged at error level, the default, so "No slots" never comes without a reason.
void note_service(ModuleState& state, ServiceState now) {
    if (state.service == now) return;
    state.service = now;
    if (now == ServiceState::NoService) {
        const char* socket = std::getenv("PCSCLITE_CSOCK_NAME");
        state.logger.error(std::string("cannot reach pcscd, the PC/SC smart card service") +
                           (socket != nullptr ? std::string(" (PCSCLITE_CSOCK_NAME=") + socket + ")" : "") +
                           ": install it (apt install pcscd) and start it (sudo systemctl start pcscd.socket; "
                           "systemctl start pcscd also works); no card can be seen until then");
    } else if (now == ServiceState::NoReaders) {
        state.logger.error("pcscd is running but reports no smart card reader: plug in a contact or NFC "
                           "reader (check with pcsc_scan from pcsc-tools); a reader that needs its own "
                           "driver (e.g. libacsccid1) shows up once that is installed");
    }
}

}  // namespace

CardSettings ModuleState::card_settings() const {
    return CardSettings{.always_authenticate_sign = config.always_authenticate,
                        .pss = config.pss,
                        .cache_folder = cache::CardCache::user_folder(),
                        .note = [this](const std::string& line) { logger.info(line); }};
}

void ModuleState::refresh() {
    std::lock_guard probing(*probe_lock);
    std::vector<transport::ReaderStatus> statuses;
    ServiceState service_now = ServiceState::Ok;
    try {
        statuses = transport->readers();
        if (statuses.empty()) service_now = ServiceState::NoReaders;
    } catch (const transport::ServiceUnavailable&) {
        statuses.clear();  // pcscd gone: every known reader reads as empty until it is back
        service_now = ServiceState::NoService;
    } catch (const transport::Error& error) {
        // Anything else PC/SC answers (pcscd half-way through a restart, say): keep the table as
        // it is and look again on the next call, rather than fail the application's call.
        logger.error(std::string("cannot list the readers now: ") + error.what());
        return;
    }
    // Which readers hold a card we have not probed yet, or whose probe failed and is due again?
    // Decide under the state lock, probe outside it (the probe lock keeps other lookers waiting).
    std::vector<transport::ReaderStatus> to_probe;
    const auto now = Clock::now();
    {
        std::lock_guard lock(*state_lock);
        note_service(*this, service_now);
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
                reader.probe_failed = false;
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
            if (same) {
                if (it->probe_failed && now >= it->retry_at) to_probe.push_back(status);
                continue;
            }
            if (it->card) close_sessions_locked(it->card, std::nullopt);
            it->card.reset();
            it->card_present = status.card_present;
            it->atr = status.atr;
            it->event_count = status.event_count;
            it->probe_failed = false;
            it->backoff = std::chrono::milliseconds{0};
            slots_changed(static_cast<std::size_t>(it - readers.begin()));
            if (status.card_present) to_probe.push_back(status);
        }
        readers_seen = true;
    }
    for (const auto& status : to_probe) {
        std::shared_ptr<InsertedCard> card;
        std::optional<std::string> failure;
        bool busy = false;
        try {
            card = InsertedCard::open(*transport, status.name, crypto, locks, object_handles, card_settings());
        } catch (const transport::CardBusy& error) {
            failure = error.what();  // another program's long transaction: every try costs the wait
            busy = true;
        } catch (const transport::Error& error) {
            failure = error.what();  // held exclusively by another program, mute, gone again...
        }
        std::lock_guard lock(*state_lock);
        for (std::size_t index = 0; index < readers.size(); ++index) {
            Reader& reader = readers[index];
            if (reader.name != status.name || reader.event_count != status.event_count || reader.card) continue;
            if (failure) {
                if (!reader.probe_failed) {
                    logger.error("the card in reader \"" + reader.name + "\" could not be opened (" + *failure +
                                 (busy ? "); another program is using it (a transaction of its own): retrying"
                                       : "); another program may hold it exclusively (GnuPG's scdaemon does), "
                                         "or it was just reset: retrying"));
                }
                reader.probe_failed = true;
                // A busy card costs the transport's whole wait per try: try it less often.
                const auto first = busy ? kFirstBusyRetry : kFirstRetry;
                const auto most = busy ? kMaxBusyRetry : kMaxRetry;
                reader.backoff = std::clamp(reader.backoff.count() == 0 ? first : 2 * reader.backoff, first, most);
                reader.retry_at = Clock::now() + reader.backoff;
                continue;
            }
            if (reader.probe_failed) {
                // The application saw this reader without a token: tell it the token is there now.
                logger.info("the card in reader \"" + reader.name + "\" could be opened on a later try");
                events.push_back(2 * index);
                events.push_back(2 * index + 1);
            }
            reader.probe_failed = false;
            reader.backoff = std::chrono::milliseconds{0};
            reader.card = card;  // null: not a JPKI card (final; probed again only on a change)
        }
    }
}

namespace {

// The longest prefix of `text` of at most `size` bytes that does not cut a UTF-8 character.
std::string_view utf8_prefix(std::string_view text, std::size_t size) {
    if (text.size() <= size) return text;
    while (size > 0 && (static_cast<unsigned char>(text[size]) & 0xC0) == 0x80) --size;
    return text.substr(0, size);
}

// The longest suffix of at most `size` bytes that starts on a character.
std::string_view utf8_suffix(std::string_view text, std::size_t size) {
    if (text.size() <= size) return text;
    std::size_t start = text.size() - size;
    while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
    return text.substr(start);
}

constexpr std::size_t kDescriptionSize = sizeof(CK_SLOT_INFO::slotDescription);

// A reader name that fits CK_SLOT_INFO.slotDescription (64 bytes, UTF-8): cut on a character
// boundary, keeping the end, where PC/SC puts the reader's index ("... 00 00", "... 01 00"),
// so that two readers of one long-named model stay apart.
std::string shortened(std::string_view name) {
    if (name.size() <= kDescriptionSize) return std::string(name);
    constexpr std::string_view ellipsis = "...";
    const std::string_view tail = utf8_suffix(name, 12);
    return std::string(utf8_prefix(name, kDescriptionSize - ellipsis.size() - tail.size())) + std::string(ellipsis) +
           std::string(tail);
}

}  // namespace

std::string ModuleState::slot_description(std::size_t index) const {
    std::string description = shortened(readers[index].name);
    const bool clash = std::any_of(readers.begin(), readers.end(), [&](const Reader& other) {
        return &other != &readers[index] && shortened(other.name) == description;
    });
    if (!clash) return description;
    // Still the same as another reader's: the slot pair's index makes it unique.
    const std::string mark = " [" + std::to_string(index) + "]";
    return std::string(utf8_prefix(description, kDescriptionSize - mark.size())) + mark;
}

bool ModuleState::probe_retry_due(std::optional<Clock::time_point>& next) {
    std::lock_guard lock(*state_lock);
    next.reset();
    for (const Reader& reader : readers) {
        if (!reader.probe_failed) continue;
        if (!next || reader.retry_at < *next) next = reader.retry_at;
    }
    return next && Clock::now() >= *next;
}

void ModuleState::check_slot(CK_SLOT_ID slot) {
    std::lock_guard lock(*state_lock);
    if (slot / 2 >= readers.size() || !profile_shows(config.slots, role_of_slot(slot))) throw Error(CKR_SLOT_ID_INVALID);
}

std::shared_ptr<InsertedCard> ModuleState::card_in_slot(CK_SLOT_ID slot) {
    // Always a fresh look at the reader first: it also learns a slot the table does not know yet
    // (no C_GetSlotList since C_Initialize, or a reader plugged in since).
    refresh();
    check_slot(slot);
    std::lock_guard lock(*state_lock);
    return readers[slot / 2].card;
}

std::shared_ptr<InsertedCard> ModuleState::present_card(CK_SLOT_ID slot) {
    // Always a fresh look at the reader (PC/SC status, no APDU), even when a card is known: a
    // card removed and another (or the same) inserted between two calls leaves the reader
    // showing a card, and only its event counter tells. Answering from the known card would show
    // the card that left and open sessions on its dead connection (the new-user swap test).
    auto card = card_in_slot(slot);
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

bool Module::end_logins(bool wait_for_calls) noexcept {
    std::vector<std::shared_ptr<InsertedCard>> cards;
    {
        std::unique_lock lock(*state_->state_lock, std::defer_lock);
        if (wait_for_calls) lock.lock();
        for (const Reader& reader : state_->readers)
            if (reader.card) cards.push_back(reader.card);
        for (const auto& entry : state_->sessions)
            if (std::find(cards.begin(), cards.end(), entry.second->card) == cards.end())
                cards.push_back(entry.second->card);
    }
    bool all_ended = true;
    for (const auto& card : cards) {
        std::unique_lock io(card->io(), std::defer_lock);
        if (wait_for_calls) io.lock();
        // One try: another program's transaction holds it off for the transport's 5 s at most.
        if (card->card_may_hold_pin()) {
            try {
                card->end_all_logins();
            } catch (const std::exception& error) {
                state_->logger.error(std::string("could not reset the card to end the login on it: ") + error.what());
            }
        }
        if (card->card_may_hold_pin()) {
            all_ended = false;
            state_->logger.error("the card in reader \"" + card->reader() +
                                 "\" may still sign for any program until it is removed or powered off");
        }
    }
    return all_ended;
}

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
    const auto card = state_->card_in_slot(slot);
    CK_SLOT_INFO info{};
    {
        std::lock_guard lock(*state_->state_lock);
        pad_copy(info.slotDescription, state_->slot_description(slot / 2));
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
        // No CKF_RNG (issue 11, docs/module.md "Random numbers"): NSS pulls bytes from every
        // token that sets it, one GET CHALLENGE per token per process, and nothing needs them.
        info.flags = CKF_TOKEN_INITIALIZED | CKF_WRITE_PROTECTED;
        if (role == PinRole::Sign && !inserted.has_sign_certificate()) {
            pad_copy(info.label, kNoSignLabel);
            return info;
        }
        pad_copy(info.label, role == PinRole::Auth ? kAuthLabel : kSignLabel);
        info.flags |= CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED;
        const int left = inserted.tries_left(role, kTriesMaxAge);
        if (left == 0) {
            info.flags |= CKF_USER_PIN_LOCKED;
        } else if (left < rules.max_tries) {
            info.flags |= CKF_USER_PIN_COUNT_LOW;
            if (left == 1) info.flags |= CKF_USER_PIN_FINAL_TRY;
        }
        return info;
    });
}

namespace {

// The rows the role's token of this card offers now (InsertedCard::offers), in table order;
// none on a card without a signing certificate's sign token. Card I/O lock held.
std::vector<const SignMechanism*> offered_mechanisms(InsertedCard& card, PinRole role) {
    std::vector<const SignMechanism*> offered;
    if (role == PinRole::Sign && !card.has_sign_certificate()) return offered;
    for (const SignMechanism& mechanism : sign_mechanisms())
        if (card.offers(role, mechanism)) offered.push_back(&mechanism);
    return offered;
}

}  // namespace

std::vector<CK_MECHANISM_TYPE> Module::mechanism_list(CK_SLOT_ID slot) {
    const auto card = state_->present_card(slot);
    return state_->with_card(card, [&](InsertedCard& inserted) {
        std::vector<CK_MECHANISM_TYPE> types;
        for (const SignMechanism* mechanism : offered_mechanisms(inserted, role_of_slot(slot)))
            types.push_back(mechanism->type);
        return types;
    });
}

CK_MECHANISM_INFO Module::mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type) {
    const auto card = state_->present_card(slot);
    const PinRole role = role_of_slot(slot);
    return state_->with_card(card, [&](InsertedCard& inserted) {
        for (const SignMechanism* mechanism : offered_mechanisms(inserted, role))
            if (mechanism->type == type) return token::mechanism_info(*mechanism, inserted.profile().role(role).key);
        throw Error(CKR_MECHANISM_INVALID);
    });
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
        // Event-driven (issue 11): the transport blocks until pcscd reports a change or
        // C_Finalize cancels the wait; only a card that could not be opened and is due for
        // another probe (item 1) bounds the wait.
        std::optional<Clock::time_point> next_probe;
        const bool probe_due = state_->probe_retry_due(next_probe);
        auto slice = transport::wait_forever;
        if (next_probe && !probe_due)
            slice = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(*next_probe - Clock::now()),
                               std::chrono::milliseconds(1), slice);
        bool changed = probe_due;
        if (!changed) {
            try {
                changed = state_->transport->wait_for_change(slice);
            } catch (const transport::Error& error) {
                // pcscd not running (or restarting): keep waiting for it, as the caller asked,
                // looking again every second; C_Finalize still ends the wait at once.
                state_->logger.info(std::string("waiting for pcscd: ") + error.what());
                std::unique_lock pause(state_->pause_mutex);
                state_->pause_wake.wait_for(pause, std::min(slice, std::chrono::milliseconds(1000)),
                                            [&] { return state_->waits_cancelled.load(); });
                changed = true;
            }
        }
        if (changed && !state_->waits_cancelled) {
            state_->refresh();
            if (auto slot = pop_event()) return slot;
        }
    }
    throw Error(CKR_CRYPTOKI_NOT_INITIALIZED, "C_Finalize called during C_WaitForSlotEvent");
}

void Module::cancel_waits() noexcept {
    {
        std::lock_guard pause(state_->pause_mutex);
        state_->waits_cancelled = true;
    }
    state_->pause_wake.notify_all();
    state_->transport->cancel_wait();
}

}  // namespace jpki::token
