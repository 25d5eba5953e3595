// One JPKI card in one reader, as the token layer keeps it from insertion to removal: its
// connection and applet, the certificates read from it (once per insertion, in memory only),
// the objects of its two tokens, the retry counters last seen, login state per PIN, which
// the module tracks itself because the card cannot report it (docs/card.md "Security state"),
// and a keyed fingerprint of the last PIN the card rejected per PIN (docs/design.md §3 "Login").
//
// Locking: every method except the constant accessors must be called with io() held; io() is
// the per-card I/O lock of docs/design.md §3, never held together with the module's state lock.
#pragma once

#include "cache/card_cache.hpp"
#include "card/jpki_applet.hpp"
#include "crypto/certificate.hpp"
#include "crypto/context.hpp"
#include "crypto/hmac.hpp"
#include "jpki/secure_bytes.hpp"
#include "jpki/transport.hpp"
#include "token/config.hpp"
#include "token/locking.hpp"
#include "token/mechanisms.hpp"
#include "token/objects.hpp"

#include <atomic>
#include <array>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace jpki::token {

using card::PinRole;

// Module-wide object handle source: handles are never reused for the life of the module.
using HandleCounter = std::atomic<CK_ULONG>;

// What the module's configuration asks of every card it opens.
struct CardSettings {
    bool always_authenticate_sign = false;  // JPKI_PKCS11_ALWAYS_AUTH: the sign key asks per signature
    PssMode pss = PssMode::Auto;            // JPKI_PKCS11_PSS (docs/design.md §6)
    // The per-user cache of card facts (cache::CardCache::user_folder()); nullopt: none.
    std::optional<std::filesystem::path> cache_folder;
    // The module log at info level: cache problems, PSS proofs (no secret ever goes there).
    std::function<void(const std::string&)> note;
};

class InsertedCard {
public:
    // Connects and probes (SELECT AID + EF 0006, docs/card.md). nullptr when the card in the
    // reader is not a JPKI card. Transport errors propagate.
    static std::shared_ptr<InsertedCard> open(transport::Transport& transport, const std::string& reader,
                                              crypto::Context& crypto, const LockFactory& locks,
                                              HandleCounter& handles, const CardSettings& settings);

    InsertedCard(const InsertedCard&) = delete;
    InsertedCard& operator=(const InsertedCard&) = delete;

    [[nodiscard]] Lock& io() { return *io_lock_; }
    // The PC/SC reader the card is in.
    [[nodiscard]] const std::string& reader() const { return reader_; }
    [[nodiscard]] const card::CardInfo& info() const { return info_; }
    // What kind of card this is (card/profile.hpp): files, PIN rules, keys, signature formats.
    [[nodiscard]] const card::CardProfile& profile() const { return applet_.profile(); }
    // Asked of the card once, when the signing token is first looked at.
    bool has_sign_certificate();

    // The token serial (docs/design.md §3): the authentication certificate's serial number in hex,
    // its last 16 characters; identical for the card's two tokens.
    std::string serial();
    // The PIN's retry counter: as last seen if that reading is at most `max_age` old, else read
    // again with the empty VERIFY (2 APDUs, no try spent), so tries another program spent show.
    // While any PIN of the card is logged in the last reading stands (a logged-in PIN's counter
    // is full, and reading the other one could need an AP select that drops the login).
    int tries_left(PinRole role, std::chrono::steady_clock::duration max_age = std::chrono::steady_clock::duration::max());
    [[nodiscard]] bool logged_in(PinRole role) const;
    // While a PIN is logged in: asks PC/SC (no APDU: an empty card transaction) whether another
    // program reset the card since our last exchange, and if so drops the logins at once. So
    // C_GetSessionInfo tells an application to log in again before it tries to sign (NSS asks
    // for the PIN when the session shows public), the smooth path after another program's
    // logout-reset (issue 7 item 3).
    void notice_reset();

    // C_Login's card work: format check (no APDU on a bad PIN), the final-try guard, the
    // repeated-rejected-PIN guard, VERIFY. The last PIN the card rejected for this role, given
    // again while the counter still reads what the card answered to it, is refused without a
    // VERIFY: CKR_PIN_INCORRECT the first time, CKR_PIN_LOCKED after that (docs/design.md §3
    // "Login"). Also C_Login(CKU_CONTEXT_SPECIFIC) while logged in: a wrong PIN leaves the login
    // as it was.
    void login(PinRole role, const SecureBytes& pin, bool allow_final_try);
    // Ends the role's login. The card cannot forget one PIN alone (no JPKI logout command is
    // known: docs/card.md "Security state"), so while it may still hold a PIN this module
    // verified, the card is reset: then both PINs' logins end, here and for every program
    // sharing the card (issue 7: a logout must not leave the card signing for anyone).
    // No reset when the role was not logged in and the other one still is.
    // Transport errors propagate (the software login is ended first in any case).
    void logout(PinRole role);
    // C_Finalize and process exit: ends every login this module made on the card (a reset when
    // the card may still hold a verified PIN). Transport errors propagate.
    void end_all_logins();
    // Whether a PIN this module verified may still be verified on the card (no reset since).
    [[nodiscard]] bool card_may_hold_pin() const;
    // A logout's reset that failed (another program kept the card busy) is tried again before
    // the card's next use, so the card does not stay verified longer than it must.
    [[nodiscard]] bool reset_pending() const { return reset_pending_; }
    void retry_pending_reset() {
        if (reset_pending_) reset_card();
    }
    // C_SetPIN: VERIFY old + CHANGE REFERENCE DATA new, the old PIN behind the same guards as login().
    void change_pin(PinRole role, const SecureBytes& old_pin, const SecureBytes& new_pin, bool allow_final_try);
    // COMPUTE DIGITAL SIGNATURE with the role's key in the mechanism's card format, over
    // `card_input` (DataCollector::card_input()); needs that PIN logged in. The signature is
    // checked under the key's certificate before it is returned (CKR_DEVICE_ERROR otherwise).
    Bytes sign(PinRole role, const SignMechanism& mechanism, std::span<const std::uint8_t> card_input);

    // Whether the role's token offers `mechanism`: PKCS#1 v1.5 always; RSA-PSS per the `pss`
    // setting: `on` always, `off` never, `auto` once this card's key has proven it (in this
    // process or, by the token serial, in the per-user cache; docs/design.md §6). Under `auto`
    // the first look reads the authentication certificate for the serial if it is not known.
    bool offers(PinRole role, const SignMechanism& mechanism);
    // Under `auto`, right after a C_Login(CKU_USER) the card accepted on the authentication
    // token, when the auth key's PSS is not known yet (cache and this process): one COMPUTE
    // DIGITAL SIGNATURE P1 04 over a random hash, checked under the certificate, the outcome
    // kept here and in the cache. No PIN sent, no try spent. Never for the signing key (its
    // signatures are the holder's own acts: only `jpki pss probe --sign` proves it). Errors are
    // logged and leave the fact unknown (tried again in the next process); transport errors
    // propagate.
    void prove_pss_after_login(PinRole role);
    // The key's RSA-PSS fact as the module knows it now (Unknown under `auto` before a proof).
    cache::Fact pss_fact(PinRole role);
    // The length in bytes of a signature by the role's key: its certificate's RSA modulus (256
    // for RSA-2048). Reads the certificate if it is not read yet (the signing one needs the
    // signature password: CKR_USER_NOT_LOGGED_IN before it); CKR_DEVICE_ERROR when its key does
    // not decode.
    std::size_t signature_size(PinRole role);

    // Handles of the role's visible objects (private ones only when logged in) that match the
    // template; a certificate is read only when the template needs one of its attributes.
    std::vector<CK_OBJECT_HANDLE> find_objects(PinRole role, std::span<const CK_ATTRIBUTE> match);
    // The visible object with all its attributes; nullptr when the handle is not one of them.
    const Object* find_object(PinRole role, CK_OBJECT_HANDLE handle);
    // Whether the handle is one of the role's private objects, hidden now because the login
    // ended (a key found before another program's logout-reset, say).
    [[nodiscard]] bool hidden_private_object(PinRole role, CK_OBJECT_HANDLE handle) const;

private:
    // `atr`, `known_forms`: the card's ATR and the READ BINARY forms the per-user cache knew for
    // it in this reader; the applet starts from them.
    InsertedCard(std::string reader, std::unique_ptr<transport::Connection> connection, Bytes atr,
                 cache::ReadForms known_forms, crypto::Context& crypto, const LockFactory& locks,
                 HandleCounter& handles, const CardSettings& settings);
    // Records in the per-user cache what the applet's ReadPlan learnt beyond what is recorded
    // (issue 11: the next process skips the refused READ BINARY forms). Two comparisons when
    // nothing changed; never throws.
    void remember_read_forms() noexcept;
    void reset_card();
    void note_tries(PinRole role, int left);

    // How to make one object once its certificate is at hand (objects.hpp makers).
    struct Recipe {
        const ObjectRow* row;     // object_rows: class, and which certificate the attributes come from
        CertificateObjects spec;  // spec.certificate is filled in when the object is completed
    };

    // A certificate file of the card profile, read once per insertion.
    const crypto::Certificate& certificate(const card::ReadableFile& file);
    // The role's own certificate (its key's).
    const crypto::Certificate& certificate(PinRole role);
    void build_objects(PinRole role);
    void add_object(PinRole role, const ObjectRow& row);
    const Object& complete(PinRole role, std::size_t index);
    std::vector<std::size_t> visible(PinRole role);
    // The check the applet runs between its empty VERIFY and the VERIFY, in one transaction:
    // refuses a locked PIN or, unless allowed, the final try, with CKR_PIN_LOCKED.
    card::TriesCheck final_try_guard(PinRole role, bool allow_final_try);
    // VERIFY of `pin` behind both guards (final try, repeated rejected PIN); remembers the PIN's
    // fingerprint when the card rejects it (63Cx), forgets it when the card accepts it.
    // `verify(check)` sends the VERIFY (or VERIFY + CHANGE REFERENCE DATA) with that TriesCheck.
    template <typename F>
    void guarded_verify(PinRole role, const SecureBytes& pin, bool allow_final_try, F&& verify);
    // The repeated-rejected-PIN guard, run with the counter the empty VERIFY just read: forgets
    // the rejected PIN when the counter or the card's reset count moved since; throws Error
    // (CKR_PIN_INCORRECT, then CKR_PIN_LOCKED) when `fingerprint` is that PIN's.
    void refuse_repeated_rejected_pin(PinRole role, const Bytes& fingerprint, int left);
    // After a VERIFY the card accepted: logged in as of the applet's current security epoch.
    void note_verified(PinRole role);
    // Runs a card operation and keeps login state honest: a lost security state (card reset,
    // applet re-selected) drops both logins before the error goes up.
    // `pin`: the PIN the operation verifies, whose counter a 63Cx answer updates.
    template <typename F>
    decltype(auto) card_call(F&& body, std::optional<PinRole> pin = std::nullopt);

    std::unique_ptr<Lock> io_lock_;
    std::string reader_;
    card::JpkiApplet applet_;
    crypto::Context& crypto_;
    HandleCounter& handles_;
    CardSettings settings_;
    cache::CardCache cache_;
    Bytes atr_;                             // the card's ATR: with reader_, names its read-forms record
    cache::ReadForms read_forms_recorded_;  // what the cache holds, as far as this object knows
    // Per key (auth, sign): the PSS fact once read from the cache or proven here; whether this
    // process already tried the proof (an error is not retried on every login).
    std::array<std::optional<cache::Fact>, 2> pss_{};
    std::array<bool, 2> pss_tried_{};
    card::CardInfo info_;
    std::optional<bool> has_sign_certificate_;
    // A VERIFY of ours succeeded while the applet had seen this many resets (none: no PIN of
    // ours can be verified on the card).
    std::optional<std::uint64_t> verified_at_resets_;
    bool reset_pending_ = false;

    std::map<card::Fid, crypto::Certificate> certificates_;  // by certificate EF, as read
    struct RoleState {
        std::optional<int> tries_left;
        std::chrono::steady_clock::time_point tries_read{};  // when tries_left was last learnt
        bool logged_in = false;
        std::uint64_t login_epoch = 0;  // the applet's security_epoch() at the VERIFY
        std::vector<Object> objects;  // objects[i] is made by recipes[i] (none for CKO_PROFILE)
        std::vector<std::optional<Recipe>> recipes;
        bool objects_built = false;
        bool private_objects_built = false;
    };
    // A PIN the card rejected (63Cx), as its keyed fingerprint, never the PIN itself
    // (docs/design.md §3 "Login": applications re-submit a rejected PIN by themselves).
    struct RejectedPin {
        Bytes fingerprint;              // pin_fingerprints_.of(the PIN as VERIFY sent it)
        int tries_left = 0;             // what the card's 63Cx answer said
        std::uint64_t resets_seen = 0;  // applet_.resets_seen() at that answer
        int refusals = 0;               // re-submissions refused since, without reaching the card
    };
    std::array<RoleState, 2> roles_;
    std::array<std::optional<RejectedPin>, 2> rejected_;
    std::optional<RejectedPin>& rejected(PinRole role) { return rejected_[role == PinRole::Auth ? 0 : 1]; }
    // Under a random key made with this object (per card insertion, per process), wiped with it.
    crypto::KeyedFingerprint pin_fingerprints_;
    RoleState& state(PinRole role) { return roles_[role == PinRole::Auth ? 0 : 1]; }
    const RoleState& state(PinRole role) const { return roles_[role == PinRole::Auth ? 0 : 1]; }
};

// The CK_RV a card-layer error stands for (docs/card.md "Status words -> PKCS#11").
CK_RV rv_for(const card::CardError& error) noexcept;

}  // namespace jpki::token
