// The token layer's state and its PKCS#11 operations. Locking (DESIGN.md §3): one state lock
// for the reader/slot table and the session table, one I/O lock per card (InsertedCard::io);
// the state lock is never held during card I/O, and a card's I/O lock may be held while the
// state lock is taken briefly (never the other way round).
#include "token/module.hpp"

#include "card/pin_policy.hpp"

#include "token/errors.hpp"
#include "token/inserted_card.hpp"
#include "token/log.hpp"
#include "token/mechanisms.hpp"
#include "token/session.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>

namespace jpki::token {
namespace {

constexpr const char* kAuthLabel = "JPKI (User Authentication PIN)";  // OpenSC's labels: URIs keep working
constexpr const char* kSignLabel = "JPKI (Digital Signature PIN)";
// An under-15 card has no signing key: its sign slot shows a token that says so, holds nothing
// and asks for no PIN (a documented choice, DESIGN.md §3), rather than an error or a gap.
constexpr const char* kNoSignLabel = "JPKI (no signature certificate)";

template <std::size_t N>
void pad_copy(CK_UTF8CHAR (&field)[N], std::string_view text) {
    std::memset(field, ' ', N);
    std::memcpy(field, text.data(), std::min(N, text.size()));
}

// PIN format first (DESIGN.md §3 "Login"): a malformed PIN causes no card traffic at all, not
// even the EF 0008 read that tells whether the card has a signature PIN.
void require_pin_format(PinRole role, const SecureBytes& pin) {
    switch (card::check_pin(role, pin.view())) {
        case card::PinCheck::LengthOutOfRange: throw Error(CKR_PIN_LEN_RANGE);
        case card::PinCheck::InvalidCharacter: throw Error(CKR_PIN_INVALID);
        case card::PinCheck::Ok: break;
    }
}

PinRole role_of_slot(CK_SLOT_ID slot) { return slot % 2 == 0 ? PinRole::Auth : PinRole::Sign; }

bool profile_shows(SlotProfile profile, PinRole role) {
    return profile == SlotProfile::Both || (profile == SlotProfile::Auth) == (role == PinRole::Auth);
}

}  // namespace

// One PC/SC reader and the card in it. Index n in the table is slots 2n (auth) and 2n+1 (sign),
// for the life of the module (NSS requires the slot list never to shrink).
struct Reader {
    std::string name;
    bool card_present = false;
    Bytes atr{};
    std::uint32_t event_count = 0;
    std::shared_ptr<InsertedCard> card{};  // null: no card, or not a JPKI card
};

class ModuleState {
public:
    ModuleState(Config config_in, std::unique_ptr<transport::Transport> transport_in, LockFactory locks_in)
        : config(std::move(config_in)),
          logger(config.log),
          transport(logger.enabled(LogLevel::Debug) ? logging_transport(std::move(transport_in), logger)
                                                    : std::move(transport_in)),
          locks(locks_in),
          state_lock(locks.make()) {}

    Config config;
    Logger logger;
    std::unique_ptr<transport::Transport> transport;
    LockFactory locks;
    crypto::Context crypto;
    std::unique_ptr<Lock> state_lock;
    HandleCounter object_handles{0};
    std::atomic<bool> waits_cancelled{false};

    // Guarded by state_lock.
    std::vector<Reader> readers;
    std::map<CK_SESSION_HANDLE, std::shared_ptr<Session>> sessions;
    CK_SESSION_HANDLE last_session = 0;
    std::deque<CK_SLOT_ID> events;
    bool readers_seen = false;  // the first look at the readers reports no events

    void refresh();
    std::shared_ptr<InsertedCard> card_in_slot(CK_SLOT_ID slot, bool refresh_first);
    // The slot's card, looking at the readers once more if none is known (a card inserted since
    // the last look); CKR_TOKEN_NOT_PRESENT when there is none.
    std::shared_ptr<InsertedCard> present_card(CK_SLOT_ID slot);
    void check_slot(CK_SLOT_ID slot);
    std::shared_ptr<Session> session(CK_SESSION_HANDLE handle);
    void card_gone(const std::shared_ptr<InsertedCard>& card);
    void close_sessions_locked(const std::shared_ptr<InsertedCard>& card, std::optional<PinRole> role);
    Bytes finish_sign(const Session& session, SignOperation& operation);

    // Runs body with the card's I/O lock held and turns transport failures into PKCS#11
    // answers: a card that left (or a pcscd that went away) closes its sessions.
    template <typename F>
    decltype(auto) with_card(const std::shared_ptr<InsertedCard>& card, F&& body) {
        try {
            std::lock_guard io(card->io());
            return body(*card);
        } catch (const transport::CardRemoved& error) {
            logger.info(std::string("card removed: ") + error.what());
            card_gone(card);
            throw Error(CKR_DEVICE_REMOVED, "card removed");
        } catch (const transport::ServiceUnavailable& error) {
            logger.error(std::string("reader or pcscd gone: ") + error.what());
            card_gone(card);
            throw Error(CKR_DEVICE_REMOVED, "reader or pcscd gone");
        } catch (const transport::Error& error) {
            logger.error(std::string("card I/O failed: ") + error.what());
            throw Error(CKR_DEVICE_ERROR, error.what());
        }
    }
};

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

std::shared_ptr<Session> ModuleState::session(CK_SESSION_HANDLE handle) {
    std::lock_guard lock(*state_lock);
    const auto it = sessions.find(handle);
    if (it == sessions.end()) throw Error(CKR_SESSION_HANDLE_INVALID);
    return it->second;
}

void ModuleState::close_sessions_locked(const std::shared_ptr<InsertedCard>& card, std::optional<PinRole> role) {
    std::erase_if(sessions, [&](const auto& entry) {
        return entry.second->card == card && (!role || entry.second->role == *role);
    });
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

CK_SESSION_HANDLE Module::open_session(CK_SLOT_ID slot, CK_FLAGS flags) {
    const auto card = state_->present_card(slot);
    std::lock_guard lock(*state_->state_lock);
    const CK_SESSION_HANDLE handle = ++state_->last_session;
    state_->sessions.emplace(handle, std::make_shared<Session>(Session{.handle = handle, .slot = slot, .role = role_of_slot(slot), .flags = flags, .card = card}));
    return handle;
}

void Module::close_session(CK_SESSION_HANDLE handle) {
    const auto session = state_->session(handle);
    bool last_of_token = false;
    {
        std::lock_guard lock(*state_->state_lock);
        state_->sessions.erase(handle);
        last_of_token = std::none_of(state_->sessions.begin(), state_->sessions.end(), [&](const auto& entry) {
            return entry.second->card == session->card && entry.second->role == session->role;
        });
    }
    // §5.6: closing the application's last session with a token logs it out.
    if (last_of_token) {
        std::lock_guard io(session->card->io());
        session->card->logout(session->role);
    }
}

void Module::close_all_sessions(CK_SLOT_ID slot) {
    const auto card = state_->card_in_slot(slot, false);
    if (!card) return;
    {
        std::lock_guard lock(*state_->state_lock);
        state_->close_sessions_locked(card, role_of_slot(slot));
    }
    std::lock_guard io(card->io());
    card->logout(role_of_slot(slot));
}

CK_SESSION_INFO Module::session_info(CK_SESSION_HANDLE handle) {
    const auto session = state_->session(handle);
    bool logged_in = false;
    {
        std::lock_guard io(session->card->io());
        logged_in = session->card->logged_in(session->role);
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
                return;
            case CKU_CONTEXT_SPECIFIC:
                // Re-authentication for a CKA_ALWAYS_AUTHENTICATE key's pending signature.
                if (!session->sign || !session->sign->always_authenticate) throw Error(CKR_OPERATION_NOT_INITIALIZED);
                card.logout(role);
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
    std::lock_guard io(session->card->io());
    if (!session->card->logged_in(session->role)) throw Error(CKR_USER_NOT_LOGGED_IN);
    session->card->logout(session->role);
}

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

void Module::find_objects_init(CK_SESSION_HANDLE handle, std::span<const CK_ATTRIBUTE> match) {
    const auto session = state_->session(handle);
    if (session->found) throw Error(CKR_OPERATION_ACTIVE);
    std::vector<CK_OBJECT_HANDLE> found;
    state_->with_card(session->card, [&](InsertedCard& card) { found = card.find_objects(session->role, match); });
    session->found = std::move(found);
    session->found_next = 0;
}

std::vector<CK_OBJECT_HANDLE> Module::find_objects(CK_SESSION_HANDLE handle, std::size_t max) {
    const auto session = state_->session(handle);
    if (!session->found) throw Error(CKR_OPERATION_NOT_INITIALIZED);
    const auto& found = *session->found;
    const std::size_t count = std::min(max, found.size() - session->found_next);
    std::vector<CK_OBJECT_HANDLE> batch(found.begin() + static_cast<std::ptrdiff_t>(session->found_next),
                                        found.begin() + static_cast<std::ptrdiff_t>(session->found_next + count));
    session->found_next += count;
    return batch;
}

void Module::find_objects_final(CK_SESSION_HANDLE handle) {
    const auto session = state_->session(handle);
    if (!session->found) throw Error(CKR_OPERATION_NOT_INITIALIZED);
    session->found.reset();
}

CK_RV Module::get_attribute_value(CK_SESSION_HANDLE handle, CK_OBJECT_HANDLE object,
                                  std::span<CK_ATTRIBUTE> attributes) {
    const auto session = state_->session(handle);
    return state_->with_card(session->card, [&](InsertedCard& card) {
        const Object* found = card.find_object(session->role, object);
        if (found == nullptr) throw Error(CKR_OBJECT_HANDLE_INVALID);
        return found->get_attributes(attributes);
    });
}

void Module::sign_init(CK_SESSION_HANDLE handle, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) {
    const auto session = state_->session(handle);
    if (session->sign) throw Error(CKR_OPERATION_ACTIVE);
    bool always_authenticate = false;
    state_->with_card(session->card, [&](InsertedCard& card) {
        const Object* object = card.find_object(session->role, key);
        if (object == nullptr) throw Error(CKR_KEY_HANDLE_INVALID);
        if (object->object_class() != CKO_PRIVATE_KEY) throw Error(CKR_KEY_FUNCTION_NOT_PERMITTED);
        const Bytes* flag = object->find(CKA_ALWAYS_AUTHENTICATE);
        always_authenticate = flag != nullptr && !flag->empty() && (*flag)[0] == CK_TRUE;
    });
    session->sign.emplace(SignOperation{DataCollector(state_->crypto, mechanism), session->role, always_authenticate});
}

std::size_t Module::signature_length(CK_SESSION_HANDLE handle) {
    const auto session = state_->session(handle);
    if (!session->sign) throw Error(CKR_OPERATION_NOT_INITIALIZED);
    return kSignatureSize;
}

namespace {

// Ends the session's sign operation whatever happens (§5.11: C_Sign and C_SignFinal end it
// unless they answer a length query or CKR_BUFFER_TOO_SMALL, which the C API handles first).
SignOperation take_sign_operation(Session& session) {
    if (!session.sign) throw Error(CKR_OPERATION_NOT_INITIALIZED);
    SignOperation operation = std::move(*session.sign);
    session.sign.reset();
    return operation;
}

}  // namespace

// The card's signature over what the operation collected (C_Sign and C_SignFinal alike).
Bytes ModuleState::finish_sign(const Session& session, SignOperation& operation) {
    const Bytes input = operation.data.card_input();
    if (operation.always_authenticate && !operation.context_authenticated) throw Error(CKR_USER_NOT_LOGGED_IN);
    return with_card(session.card, [&](InsertedCard& card) { return card.sign(operation.key, input); });
}

Bytes Module::sign(CK_SESSION_HANDLE handle, std::span<const std::uint8_t> data) {
    const auto session = state_->session(handle);
    SignOperation operation = take_sign_operation(*session);
    if (operation.data.multi_part()) throw Error(CKR_OPERATION_ACTIVE, "C_Sign after C_SignUpdate");
    operation.data.update(data);
    return state_->finish_sign(*session, operation);
}

void Module::sign_update(CK_SESSION_HANDLE handle, std::span<const std::uint8_t> part) {
    const auto session = state_->session(handle);
    if (!session->sign) throw Error(CKR_OPERATION_NOT_INITIALIZED);
    session->sign->data.update(part);
}

Bytes Module::sign_final(CK_SESSION_HANDLE handle) {
    const auto session = state_->session(handle);
    SignOperation operation = take_sign_operation(*session);
    return state_->finish_sign(*session, operation);
}

void Module::verify_init(CK_SESSION_HANDLE handle, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) {
    const auto session = state_->session(handle);
    if (session->verify) throw Error(CKR_OPERATION_ACTIVE);
    Bytes modulus;
    Bytes exponent;
    state_->with_card(session->card, [&](InsertedCard& card) {
        const Object* object = card.find_object(session->role, key);
        if (object == nullptr) throw Error(CKR_KEY_HANDLE_INVALID);
        const Bytes* can_verify = object->find(CKA_VERIFY);
        if (can_verify == nullptr || can_verify->empty() || (*can_verify)[0] != CK_TRUE)
            throw Error(CKR_KEY_FUNCTION_NOT_PERMITTED);
        modulus = *object->find(CKA_MODULUS);
        exponent = *object->find(CKA_PUBLIC_EXPONENT);
    });
    session->verify.emplace(VerifyOperation{DataCollector(state_->crypto, mechanism),
                                            crypto::RsaPublicKey(std::move(modulus), std::move(exponent))});
}

namespace {

void check_signature(crypto::Context& crypto, VerifyOperation& operation, std::span<const std::uint8_t> signature) {
    if (signature.size() != operation.key.size()) throw Error(CKR_SIGNATURE_LEN_RANGE);
    const Bytes signed_bytes = operation.data.card_input();  // what the card would have padded
    if (!crypto::verify_pkcs1(crypto, operation.key, std::nullopt, signed_bytes, signature))
        throw Error(CKR_SIGNATURE_INVALID);
}

}  // namespace

void Module::verify(CK_SESSION_HANDLE handle, std::span<const std::uint8_t> data,
                    std::span<const std::uint8_t> signature) {
    const auto session = state_->session(handle);
    if (!session->verify) throw Error(CKR_OPERATION_NOT_INITIALIZED);
    VerifyOperation operation = std::move(*session->verify);
    session->verify.reset();
    if (operation.data.multi_part()) throw Error(CKR_OPERATION_ACTIVE, "C_Verify after C_VerifyUpdate");
    operation.data.update(data);
    check_signature(state_->crypto, operation, signature);
}

void Module::verify_update(CK_SESSION_HANDLE handle, std::span<const std::uint8_t> part) {
    const auto session = state_->session(handle);
    if (!session->verify) throw Error(CKR_OPERATION_NOT_INITIALIZED);
    session->verify->data.update(part);
}

void Module::verify_final(CK_SESSION_HANDLE handle, std::span<const std::uint8_t> signature) {
    const auto session = state_->session(handle);
    if (!session->verify) throw Error(CKR_OPERATION_NOT_INITIALIZED);
    VerifyOperation operation = std::move(*session->verify);
    session->verify.reset();
    check_signature(state_->crypto, operation, signature);
}

Bytes Module::generate_random(CK_SESSION_HANDLE handle, std::size_t length) {
    const auto session = state_->session(handle);
    return state_->with_card(session->card, [&](InsertedCard& card) { return card.get_challenge(length); });
}

void Module::check_session(CK_SESSION_HANDLE handle) { static_cast<void>(state_->session(handle)); }

}  // namespace jpki::token
