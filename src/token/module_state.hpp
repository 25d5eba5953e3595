// The token layer's private state, shared by the files that implement Module chapter by chapter
// (slots.cpp: slots, tokens and events; sessions.cpp: sessions and login; object_search.cpp:
// objects and attributes; signing.cpp: signing, verification, random). Not included outside
// src/token.
//
// Locking (docs/design.md §3): one state lock for the reader/slot table and the session table, one
// I/O lock per card (InsertedCard::io); the state lock is never held during card I/O, and a
// card's I/O lock may be held while the state lock is taken briefly (never the other way round).
#pragma once

#include "token/module.hpp"

#include "card/pin_policy.hpp"

#include "token/errors.hpp"
#include "token/inserted_card.hpp"
#include "token/log.hpp"
#include "token/mechanisms.hpp"
#include "token/session.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>

namespace jpki::token {

inline constexpr const char* kAuthLabel = "JPKI (User Authentication PIN)";  // OpenSC's labels: URIs keep working
inline constexpr const char* kSignLabel = "JPKI (Digital Signature PIN)";
// An under-15 card has no signing key: its sign slot shows a token that says so, holds nothing
// and asks for no PIN (a documented choice, docs/design.md §3), rather than an error or a gap.
inline constexpr const char* kNoSignLabel = "JPKI (no signature certificate)";

template <std::size_t N>
inline void pad_copy(CK_UTF8CHAR (&field)[N], std::string_view text) {
    std::memset(field, ' ', N);
    std::memcpy(field, text.data(), std::min(N, text.size()));
}

// PIN format first (docs/design.md §3 "Login"): a malformed PIN causes no card traffic at all, not
// even the EF 0008 read that tells whether the card has a signature PIN.
inline void require_pin_format(PinRole role, const SecureBytes& pin) {
    switch (card::check_pin(role, pin.view())) {
        case card::PinCheck::LengthOutOfRange: throw Error(CKR_PIN_LEN_RANGE);
        case card::PinCheck::InvalidCharacter: throw Error(CKR_PIN_INVALID);
        case card::PinCheck::Ok: break;
    }
}

inline PinRole role_of_slot(CK_SLOT_ID slot) { return slot % 2 == 0 ? PinRole::Auth : PinRole::Sign; }

inline bool profile_shows(SlotProfile profile, PinRole role) {
    return profile == SlotProfile::Both || (profile == SlotProfile::Auth) == (role == PinRole::Auth);
}

// One PC/SC reader and the card in it. Index n in the table is slots 2n (auth) and 2n+1 (sign),
// for the life of the module (NSS requires the slot list never to shrink).
struct Reader {
    std::string name;
    bool card_present = false;
    Bytes atr{};
    std::uint32_t event_count = 0;
    std::shared_ptr<InsertedCard> card{};  // null: no card, not a JPKI card, or not opened yet
    // A card is there but could not be opened (another program holds it exclusively, it did not
    // answer, a transmit failed during the probe): probed again at retry_at, with back-off
    // (issue 7 item 1: a failed first look must not hide the card for the life of the process).
    bool probe_failed = false;
    std::chrono::steady_clock::time_point retry_at{};
    std::chrono::milliseconds backoff{0};
};

// What the last look at PC/SC found, for the one log line per condition (issue 7 item 7).
enum class ServiceState { Unknown, Ok, NoService, NoReaders };

class ModuleState {
public:
    ModuleState(Config config_in, std::unique_ptr<transport::Transport> transport_in, LockFactory locks_in)
        : config(std::move(config_in)),
          logger(config.log),
          transport(logger.enabled(LogLevel::Debug) ? logging_transport(std::move(transport_in), logger)
                                                    : std::move(transport_in)),
          locks(locks_in),
          state_lock(locks.make()),
          probe_lock(locks.make()) {}

    Config config;
    Logger logger;
    std::unique_ptr<transport::Transport> transport;
    LockFactory locks;
    crypto::Context crypto;
    std::unique_ptr<Lock> state_lock;
    // Held by refresh() from reading the readers to the end of probing their cards, so a call
    // that looks at the readers while another thread probes waits for that probe instead of
    // seeing a half-known reader as empty (issue 7 item 2). Taken before any card's I/O lock and
    // before the state lock, never while holding either.
    std::unique_ptr<Lock> probe_lock;
    HandleCounter object_handles{0};
    std::atomic<bool> waits_cancelled{false};
    // Wakes the pause C_WaitForSlotEvent takes while pcscd is unreachable (cancel_waits()).
    std::mutex pause_mutex;
    std::condition_variable pause_wake;

    // Guarded by state_lock.
    std::vector<Reader> readers;
    std::map<CK_SESSION_HANDLE, std::shared_ptr<Session>> sessions;
    CK_SESSION_HANDLE last_session = 0;
    std::deque<CK_SLOT_ID> events;
    bool readers_seen = false;  // the first look at the readers reports no events
    ServiceState service = ServiceState::Unknown;

    void refresh();
    // What every card opened now gets from the configuration (and the per-user cache folder).
    [[nodiscard]] CardSettings card_settings() const;
    // True when a failed probe is due for another try (C_WaitForSlotEvent then refreshes even
    // though PC/SC reports no change); `next` gets the earliest retry time, if any.
    bool probe_retry_due(std::optional<std::chrono::steady_clock::time_point>& next);
    // CK_SLOT_INFO.slotDescription of the reader at `index`; state_lock held.
    [[nodiscard]] std::string slot_description(std::size_t index) const;
    std::shared_ptr<InsertedCard> card_in_slot(CK_SLOT_ID slot);
    // The card in the slot's reader now: looks at the readers first (no APDU), so a card removed
    // or swapped since the last look retires the old card and its sessions;
    // CKR_TOKEN_NOT_PRESENT when there is none.
    std::shared_ptr<InsertedCard> present_card(CK_SLOT_ID slot);
    void check_slot(CK_SLOT_ID slot);
    // The session, with its lock held for the rest of the call: one session used by two threads
    // at once is serialised (PKCS#11 leaves it undefined; issue 7 item 5). Taken before the
    // card's I/O lock. CKR_SESSION_HANDLE_INVALID for an unknown or closed session.
    LockedSession session(CK_SESSION_HANDLE handle);
    void card_gone(const std::shared_ptr<InsertedCard>& card);
    void close_sessions_locked(const std::shared_ptr<InsertedCard>& card, std::optional<PinRole> role);
    Bytes finish_sign(const Session& session, SignOperation& operation);
    // Ends a login on the card (InsertedCard::logout), logging a reset that failed.
    void logout_card(const std::shared_ptr<InsertedCard>& card, PinRole role);

    // Runs body with the card's I/O lock held and turns transport failures into PKCS#11
    // answers: a card that left (or a pcscd that went away) closes its sessions.
    template <typename F>
    decltype(auto) with_card(const std::shared_ptr<InsertedCard>& card, F&& body) {
        try {
            std::lock_guard io(card->io());
            card->retry_pending_reset();  // a logout's reset that could not be done yet comes first
            return body(*card);
        } catch (const transport::CardRemoved& error) {
            logger.info(std::string("card removed: ") + error.what());
            card_gone(card);
            throw Error(CKR_DEVICE_REMOVED, "card removed");
        } catch (const transport::ServiceUnavailable& error) {
            logger.error(std::string("reader or pcscd gone: ") + error.what());
            card_gone(card);
            throw Error(CKR_DEVICE_REMOVED, "reader or pcscd gone");
        } catch (const transport::CardBusy& error) {
            logger.error(std::string("the card is busy in another program; nothing was sent: ") + error.what());
            throw Error(CKR_FUNCTION_FAILED, error.what());
        } catch (const transport::Error& error) {
            // (A card pulled out mid-command is CardRemoved: the transport asks the reader.)
            logger.error(std::string("card I/O failed: ") + error.what());
            throw Error(CKR_DEVICE_ERROR, error.what());
        }
    }
};

}  // namespace jpki::token
