#include "token/inserted_card.hpp"

#include "card/pss_proof.hpp"
#include "crypto/error.hpp"
#include "crypto/random.hpp"
#include "token/errors.hpp"

#include <algorithm>
#include <mutex>
#include <string>
#include <thread>

namespace jpki::token {

CK_RV rv_for(const card::CardError& error) noexcept {
    using Kind = card::CardError::Kind;
    switch (error.kind()) {
        case Kind::PinIncorrect: return CKR_PIN_INCORRECT;
        case Kind::PinLocked: return CKR_PIN_LOCKED;
        case Kind::SecurityStatusNotSatisfied: return CKR_USER_NOT_LOGGED_IN;
        case Kind::SecurityStateLost: return CKR_USER_NOT_LOGGED_IN;
        case Kind::WrongLength: return CKR_DATA_LEN_RANGE;
        case Kind::FunctionNotSupported: return CKR_MECHANISM_INVALID;
        case Kind::PinLengthOutOfRange: return CKR_PIN_LEN_RANGE;
        case Kind::PinInvalidCharacter: return CKR_PIN_INVALID;
        case Kind::FileNotFound:
        case Kind::InvalidResponse:
        case Kind::CardError: return CKR_DEVICE_ERROR;
    }
    return CKR_DEVICE_ERROR;
}

std::shared_ptr<InsertedCard> InsertedCard::open(transport::Transport& transport, const std::string& reader,
                                                 crypto::Context& crypto, const LockFactory& locks,
                                                 HandleCounter& handles, const CardSettings& settings) {
    // Another program resetting or unpowering the card (its logout, say) makes the connect or
    // the probe fail for a moment: look again a few times over about a second before calling
    // the probe failed (then the slot shows no token until a later retry).
    constexpr int attempts = 4;
    for (int attempt = 1;; ++attempt) {
        try {
            std::unique_ptr<transport::Connection> connection = transport.connect(reader);
            Bytes atr = connection->atr();
            // The READ BINARY forms an earlier process learnt for this card model in this reader
            // (issue 11): a form known refused is not tried again. Read by a silent cache object:
            // the card's own cache_ tells a problem with the record when it rewrites it.
            const cache::ReadForms known =
                cache::CardCache(crypto, settings.cache_folder, {}).read_forms(reader, atr);
            std::shared_ptr<InsertedCard> inserted(new InsertedCard(reader, std::move(connection), std::move(atr),
                                                                    known, crypto, locks, handles, settings));
            std::lock_guard lock(inserted->io());
            std::optional<card::CardInfo> info;
            try {
                info = inserted->applet_.probe();
            } catch (...) {
                inserted->remember_read_forms();
                throw;
            }
            inserted->remember_read_forms();
            if (!info) return nullptr;
            inserted->info_ = std::move(*info);
            return inserted;
        } catch (const transport::CardReset&) {
            if (attempt == attempts) throw;
        } catch (const card::CardError& error) {
            // probe() answers "not a JPKI card" itself; what escapes is a card reset again and
            // again under the probe: a transient failure, like a transport error.
            if (attempt == attempts) throw transport::Error(std::string("probing the card: ") + error.what());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
}

InsertedCard::InsertedCard(std::string reader, std::unique_ptr<transport::Connection> connection, Bytes atr,
                           cache::ReadForms known_forms, crypto::Context& crypto, const LockFactory& locks,
                           HandleCounter& handles, const CardSettings& settings)
    : io_lock_(locks.make()), reader_(std::move(reader)),
      applet_(std::move(connection), cache::read_plan_from(known_forms)),
      crypto_(crypto), handles_(handles), settings_(settings),
      cache_(crypto, settings.cache_folder,
             [note = settings.note](const std::string& problem) {
                 if (note) note(problem);  // "card cache: <path>: <reason>"
             }),
      atr_(std::move(atr)), read_forms_recorded_(known_forms), pin_fingerprints_(crypto) {}

void InsertedCard::remember_read_forms() noexcept {
    cache_.record_lessons(reader_, atr_, applet_.read_plan(), read_forms_recorded_);
}

template <typename F>
decltype(auto) InsertedCard::card_call(F&& body, std::optional<PinRole> pin) {
    // Whatever the operation read, and however it ends, its READ BINARY lessons are kept.
    class RememberReadForms {
    public:
        explicit RememberReadForms(InsertedCard& card) noexcept : card_(card) {}
        RememberReadForms(const RememberReadForms&) = delete;
        RememberReadForms& operator=(const RememberReadForms&) = delete;
        RememberReadForms(RememberReadForms&&) = delete;
        RememberReadForms& operator=(RememberReadForms&&) = delete;
        ~RememberReadForms() { card_.remember_read_forms(); }

    private:
        InsertedCard& card_;
    } const remember(*this);
    try {
        return body();
    } catch (const card::CardError& error) {
        using Kind = card::CardError::Kind;
        switch (error.kind()) {
            case Kind::PinIncorrect:
            case Kind::PinLocked:
                // The card's answer carries its counter: the token flags show it at once.
                if (pin && error.tries_left() >= 0) note_tries(*pin, error.tries_left());
                break;
            case Kind::SecurityStateLost:
            case Kind::SecurityStatusNotSatisfied:
                // The card no longer holds what our login state says: believe the card.
                for (auto& role : roles_) role.logged_in = false;
                break;
            default: break;
        }
        throw Error(rv_for(error), error.what());
    } catch (const crypto::Error& error) {
        // OpenSSL refusing what the card gave us (a key, a signature): the card's fault, not ours.
        throw Error(CKR_DEVICE_ERROR, error.what());
    }
}

std::string InsertedCard::serial() { return certificate(PinRole::Auth).token_serial(); }

void InsertedCard::note_tries(PinRole role, int left) {
    RoleState& pin = state(role);
    pin.tries_left = left;
    pin.tries_read = std::chrono::steady_clock::now();
}

int InsertedCard::tries_left(PinRole role, std::chrono::steady_clock::duration max_age) {
    RoleState& pin = state(role);
    const bool stale = pin.tries_left && std::chrono::steady_clock::now() - pin.tries_read > max_age &&
                       !logged_in(PinRole::Auth) && !logged_in(PinRole::Sign);
    if (!pin.tries_left || stale) note_tries(role, card_call([&] { return applet_.tries_left(role); }, role));
    return *pin.tries_left;
}

bool InsertedCard::logged_in(PinRole role) const {
    const RoleState& pin = state(role);
    return pin.logged_in && pin.login_epoch == applet_.security_epoch();
}

// Applications re-submit a PIN the card has just rejected on their own: NSS asks its password
// callback again after CKR_PIN_INCORRECT, and LibreOffice's PDF export and pdfsig's -kpw answer
// with the same password each time, which cost 4 of 5 tries for one wrong entry. A PIN the card
// rejected, sent again while the counter still reads what the card answered to it, is wrong
// again for sure (only a right VERIFY can change the PIN, and it refills the counter): it is
// refused without reaching the card. To recognise it the module keeps a keyed fingerprint of
// the rejected PIN, never the PIN: HMAC-SHA-256 under a random key that lives in this object
// only, so it cannot be turned back into the PIN (the key is never shown and is wiped with the
// object) and it names a PIN known to be wrong, which opens nothing. A right PIN is never kept
// in any form (docs/design.md §3 "Login").
void InsertedCard::refuse_repeated_rejected_pin(PinRole role, const Bytes& fingerprint, int left) {
    std::optional<RejectedPin>& last = rejected(role);
    // Another program's try, a right PIN (perhaps a PIN change) or a card reset since the
    // rejection: the PIN on the card may differ now, so the same PIN may be right.
    if (last && (last->tries_left != left || last->resets_seen != applet_.resets_seen())) last.reset();
    if (left == 0 || !last || !crypto::KeyedFingerprint::same(last->fingerprint, fingerprint)) return;
    note_tries(role, left);
    // The first repeat says "wrong PIN", so a user who typed it again sees why; after that
    // CKR_PIN_LOCKED, which ends NSS's retry loop (it asks the application again after every
    // CKR_PIN_INCORRECT, and LibreOffice and pdfsig answer every time).
    const CK_RV rv = ++last->refusals == 1 ? CKR_PIN_INCORRECT : CKR_PIN_LOCKED;
    throw Error(rv, "the same PIN the card rejected just before (" + std::to_string(left) +
                            " tries left, unchanged) was refused without reaching the card");
}

template <typename F>
void InsertedCard::guarded_verify(PinRole role, const SecureBytes& pin, bool allow_final_try, F&& verify) {
    const auto attempt = [&] {
        // What VERIFY sends: a lowercase signature password is the same PIN upper-cased.
        const Bytes fingerprint = pin_fingerprints_.of(card::normalise_pin(role, pin.view()).view());
        const card::TriesCheck final_try = final_try_guard(role, allow_final_try);
        try {
            verify(card::TriesCheck([&](int left) {
                refuse_repeated_rejected_pin(role, fingerprint, left);
                final_try(left);
            }));
        } catch (const card::CardError& error) {
            if (error.kind() == card::CardError::Kind::PinIncorrect && error.tries_left() >= 0)
                rejected(role) = RejectedPin{fingerprint, error.tries_left(), applet_.resets_seen(), 0};
            throw;
        }
    };
    card_call(attempt, role);
    rejected(role).reset();  // the card accepted it: the counter is full, nothing to remember
}

void InsertedCard::login(PinRole role, const SecureBytes& pin, bool allow_final_try) {
    // The applet checks the PIN's format before any APDU (PinLengthOutOfRange/PinInvalidCharacter
    // -> CKR_PIN_LEN_RANGE/CKR_PIN_INVALID); Module::login checks it even before that.
    guarded_verify(role, pin, allow_final_try,
                   [&](const card::TriesCheck& check) { applet_.verify(role, pin, check); });
    note_verified(role);
}

card::TriesCheck InsertedCard::final_try_guard(PinRole role, bool allow_final_try) {
    // Read in the VERIFY's own transaction, so no other program's try comes between the
    // guard's decision and the VERIFY it allows.
    return [this, role, allow_final_try](int left) {
        note_tries(role, left);
        if (left == 0) throw Error(CKR_PIN_LOCKED, "PIN locked");
        // A locked card means a trip to the city office: applications that retry PINs in a loop
        // must never spend the last try unless the user allowed it (docs/design.md §3).
        if (left == 1 && !allow_final_try) throw Error(CKR_PIN_LOCKED, "final try guarded");
    };
}

bool InsertedCard::has_sign_certificate() {
    if (!has_sign_certificate_) has_sign_certificate_ = card_call([&] { return applet_.has_sign_certificate(); });
    return *has_sign_certificate_;
}

void InsertedCard::note_verified(PinRole role) {
    RoleState& pin = state(role);
    pin.logged_in = true;
    pin.login_epoch = applet_.security_epoch();
    verified_at_resets_ = applet_.resets_seen();
    note_tries(role, card::pin_rules(role).max_tries);  // a good VERIFY refills the counter
}

void InsertedCard::notice_reset() {
    if (!logged_in(PinRole::Auth) && !logged_in(PinRole::Sign)) return;
    card_call([&] { applet_.in_transaction([] {}); });  // a reset moves the security epoch
}

bool InsertedCard::card_may_hold_pin() const {
    return verified_at_resets_ && *verified_at_resets_ == applet_.resets_seen();
}

void InsertedCard::reset_card() {
    for (auto& role : roles_) role.logged_in = false;  // first: whatever the reset does, we are out
    try {
        applet_.reset_card();
    } catch (const transport::CardRemoved&) {
        // A card that left the reader keeps no security state.
    } catch (const transport::Error&) {
        reset_pending_ = true;  // busy or failed: the card may still hold the PIN; try again later
        throw;
    }
    reset_pending_ = false;
    verified_at_resets_.reset();
}

void InsertedCard::logout(PinRole role) {
    const bool was_logged_in = state(role).logged_in;
    state(role).logged_in = false;
    const PinRole other = role == PinRole::Auth ? PinRole::Sign : PinRole::Auth;
    if (!was_logged_in && logged_in(other)) return;
    if (card_may_hold_pin()) reset_card();
}

void InsertedCard::end_all_logins() {
    for (auto& role : roles_) role.logged_in = false;
    if (card_may_hold_pin()) reset_card();
}

void InsertedCard::change_pin(PinRole role, const SecureBytes& old_pin, const SecureBytes& new_pin,
                              bool allow_final_try) {
    guarded_verify(role, old_pin, allow_final_try,
                   [&](const card::TriesCheck& check) { applet_.change_pin(role, old_pin, new_pin, check); });
    // The old PIN was verified on the way: the card holds this PIN as verified now.
    note_verified(role);
}

Bytes InsertedCard::sign(PinRole role, const SignMechanism& mechanism, std::span<const std::uint8_t> card_input) {
    if (!logged_in(role)) throw Error(CKR_USER_NOT_LOGGED_IN);
    const crypto::RsaPublicKey key = certificate(role).public_key();
    const auto card_sign = [&](card::KeySelection selection) {
        return mechanism.needs_pss() ? applet_.sign_pss_sha256(role, card_input, selection)
                                     : applet_.sign(role, card_input, selection);
    };
    return card_call([&] {
        // A series of signatures skips re-selecting the key EF (one APDU each instead of two).
        // Another program may have selected another EF meanwhile: a signature that does not
        // verify with this key's public key, or an error, means "select the key and sign again".
        const auto made_by_key = [&](const Bytes& signature) {
            return verifies(crypto_, mechanism, key, card_input, signature);
        };
        try {
            Bytes signature = card_sign(card::KeySelection::KeepPrevious);
            if (made_by_key(signature)) return signature;
        } catch (const card::CardError& error) {
            using Kind = card::CardError::Kind;
            // A lost login, or the card refusing the format itself (6A86/6700: `pss = on` with a
            // card without P1 04), is the same with the key selected again: not sent twice.
            if (error.kind() == Kind::SecurityStateLost || error.kind() == Kind::FunctionNotSupported ||
                error.kind() == Kind::WrongLength)
                throw;
        }
        Bytes signature = card_sign(card::KeySelection::Select);
        if (!made_by_key(signature))
            throw Error(CKR_DEVICE_ERROR, "the card's signature does not verify with its certificate's key");
        return signature;
    });
}

namespace {
constexpr std::size_t key_index(PinRole role) { return role == PinRole::Auth ? 0 : 1; }
constexpr cache::Key cache_key(PinRole role) { return role == PinRole::Auth ? cache::Key::Auth : cache::Key::Sign; }
}  // namespace

cache::Fact InsertedCard::pss_fact(PinRole role) {
    switch (settings_.pss) {
        case PssMode::On: return cache::Fact::Yes;
        case PssMode::Off: return cache::Fact::No;
        case PssMode::Auto: break;
    }
    std::optional<cache::Fact>& known = pss_[key_index(role)];
    if (!known) {
        if (!cache_.folder()) return cache::Fact::Unknown;  // no cache: only a proof here can tell
        known = cache_.pss(serial(), cache_key(role));
    }
    return *known;
}

bool InsertedCard::offers(PinRole role, const SignMechanism& mechanism) {
    return !mechanism.needs_pss() || pss_fact(role) == cache::Fact::Yes;
}

void InsertedCard::prove_pss_after_login(PinRole role) {
    if (settings_.pss != PssMode::Auto || role != PinRole::Auth || !logged_in(role)) return;
    if (pss_tried_[key_index(role)] || pss_fact(role) != cache::Fact::Unknown) return;
    pss_tried_[key_index(role)] = true;
    const auto note = [&](const std::string& line) {
        if (settings_.note) settings_.note(line);
    };
    try {
        const crypto::RsaPublicKey key = certificate(PinRole::Auth).public_key();
        const Bytes hash = crypto::random_bytes(crypto_, card::pss_hash_length);
        const card::PssProof proof = card_call([&] {
            return card::prove_pss(applet_, role, hash, [&](auto signed_hash, auto signature) {
                return crypto::verify_pss_sha256(crypto_, key, signed_hash, signature);
            });
        });
        if (proof == card::PssProof::NotVerified) {
            note("RSA-PSS proof: the card's signature did not verify (a garbled answer?); nothing recorded, "
                 "tried again in the next program");
            return;
        }
        const bool proven = proof == card::PssProof::Proven;
        pss_[key_index(role)] = proven ? cache::Fact::Yes : cache::Fact::No;
        const bool recorded = cache_.set_pss(serial(), cache_key(role), proven);
        if (proven)
            note(recorded ? "RSA-PSS proven for this card's authentication key: offered from the next start of each program"
                          : "RSA-PSS proven for this card's authentication key, offered in this program only: the card "
                            "cache could not keep it (see above), so the next program proves it again");
        else
            note("this card refused RSA-PSS (COMPUTE DIGITAL SIGNATURE P1 04): PKCS#1 v1.5 only");
    } catch (const Error& error) {
        note(std::string("RSA-PSS proof not made: ") + error.what());
    } catch (const crypto::Error& error) {
        note(std::string("RSA-PSS proof not made: ") + error.what());
    }
}

const crypto::Certificate& InsertedCard::certificate(const card::ReadableFile& file) {
    auto found = certificates_.find(file.fid);
    if (found == certificates_.end()) {
        // Read once per insertion and kept in memory only: the signing certificate carries the
        // holder's name, address and birth date (docs/design.md §3).
        const Bytes der = card_call([&] { return applet_.read_certificate(file); });
        try {
            found = certificates_.try_emplace(file.fid, crypto_, der).first;
        } catch (const std::exception& error) {
            throw Error(CKR_DEVICE_ERROR, std::string("certificate on the card does not parse: ") + error.what());
        }
    }
    return found->second;
}

const crypto::Certificate& InsertedCard::certificate(PinRole role) {
    return certificate(applet_.profile().role(role).certificate);
}

std::size_t InsertedCard::signature_size(PinRole role) {
    const crypto::Certificate& of_key = certificate(role);
    try {
        return of_key.public_key().size();
    } catch (const crypto::Error& error) {
        throw Error(CKR_DEVICE_ERROR, std::string("certificate on the card is unusable: ") + error.what());
    }
}

void InsertedCard::add_object(PinRole role, const ObjectRow& row) {
    RoleState& pin = state(role);
    const CK_OBJECT_HANDLE handle = handles_.fetch_add(1) + 1;
    if (row.from == ObjectSource::None) {
        // Nothing to read from the card: the object is whole at once.
        pin.objects.push_back(make_public_certificates_profile(handle));
        pin.recipes.emplace_back();
        return;
    }
    const Recipe recipe{&row, {nullptr, Bytes{row.id}, std::string(row.label), row.from == ObjectSource::CaCertificate,
                               row.visible == Visibility::AfterLogin}};
    // What is known without reading the certificate; complete() makes the real object.
    Object stub(handle, row.cls);
    stub.set_bool(CKA_PRIVATE, row.cls == CKO_PRIVATE_KEY || recipe.spec.is_private)
        .set(CKA_ID, recipe.spec.id)
        .set_text(CKA_LABEL, recipe.spec.label)
        .mark_incomplete();
    if (row.cls == CKO_CERTIFICATE) stub.set_ulong(CKA_CERTIFICATE_TYPE, CKC_X_509);
    else stub.set_ulong(CKA_KEY_TYPE, CKK_RSA);
    pin.objects.push_back(std::move(stub));
    pin.recipes.push_back(recipe);
}

const Object& InsertedCard::complete(PinRole role, std::size_t index) {
    RoleState& pin = state(role);
    Object& object = pin.objects[index];
    if (object.complete()) return object;
    Recipe& recipe = *pin.recipes[index];
    const card::RoleProfile& files = applet_.profile().role(role);
    recipe.spec.certificate =
        &certificate(recipe.row->from == ObjectSource::CaCertificate ? files.ca_certificate : files.certificate);
    const KeyRole key_role = role == PinRole::Auth ? KeyRole::Auth : KeyRole::Sign;
    switch (recipe.row->cls) {
        case CKO_CERTIFICATE: object = make_certificate(object.handle(), recipe.spec); break;
        case CKO_PUBLIC_KEY: object = make_public_key(object.handle(), recipe.spec, key_role); break;
        default:
            object = make_private_key(object.handle(), recipe.spec, key_role,
                                      role == PinRole::Sign && settings_.always_authenticate_sign);
            break;
    }
    return object;
}

void InsertedCard::build_objects(PinRole role) {
    RoleState& pin = state(role);
    // One pass over the rows per stage (objects.hpp object_rows): FirstLook rows when the token
    // is first looked at, AfterLogin rows at the first look while logged in.
    const auto add_rows = [&](Visibility visible) {
        for (const ObjectRow& row : object_rows)
            if (row.role == role && row.visible == visible) add_object(role, row);
    };
    if (!pin.objects_built) {
        add_rows(Visibility::FirstLook);
        pin.objects_built = true;
    }
    if (!pin.private_objects_built && logged_in(role)) {
        add_rows(Visibility::AfterLogin);
        pin.private_objects_built = true;
    }
}

std::vector<std::size_t> InsertedCard::visible(PinRole role) {
    if (role == PinRole::Sign && !has_sign_certificate()) return {};  // under-15 card: nothing
    build_objects(role);
    const bool may_see_private = logged_in(role);
    std::vector<std::size_t> indices;
    const auto& objects = state(role).objects;
    for (std::size_t index = 0; index < objects.size(); ++index)
        if (may_see_private || !objects[index].is_private()) indices.push_back(index);
    return indices;
}

std::vector<CK_OBJECT_HANDLE> InsertedCard::find_objects(PinRole role, std::span<const CK_ATTRIBUTE> match) {
    std::vector<CK_OBJECT_HANDLE> found;
    for (const std::size_t index : visible(role)) {
        const Object& object = state(role).objects[index];
        std::optional<bool> matches = object.matches_known(match);
        if (!matches) matches = complete(role, index).matches(match);
        if (*matches) found.push_back(object.handle());
    }
    return found;
}

const Object* InsertedCard::find_object(PinRole role, CK_OBJECT_HANDLE handle) {
    for (const std::size_t index : visible(role))
        if (state(role).objects[index].handle() == handle) return &complete(role, index);
    return nullptr;
}

bool InsertedCard::hidden_private_object(PinRole role, CK_OBJECT_HANDLE handle) const {
    if (logged_in(role)) return false;
    const auto& objects = state(role).objects;
    return std::any_of(objects.begin(), objects.end(),
                       [&](const Object& object) { return object.handle() == handle && object.is_private(); });
}

}  // namespace jpki::token
