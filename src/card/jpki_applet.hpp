// The JPKI applet as the token layer sees it: one object per card, each operation one card
// transaction (docs/design.md §3 "Sessions, events, threads", §7 "RAII ... card transactions").
//
// Selection state (kept to send as few SELECTs as is safe; docs/card.md "Security state"):
//  * The applet remembers whether the JPKI AP is selected. That memory survives transactions
//    and is dropped on a reset, a transport error, or forget_selection().
//  * The selected EF is remembered only inside one transaction: another program may select
//    other EFs between our transactions, and a SIGN after a stale EF would use the wrong key.
//    A READ BINARY by short EF identifier (read_plan.hpp) may or may not make its EF current,
//    so after one the current EF counts as unknown.
//  * The AP is selected only when it must be: when its selection is unknown (first use, after
//    reset/reconnect), by probe(), right before a VERIFY (unless this very transaction already
//    selected it), and when an EF select answers 6A82 while the AP was remembered from an
//    earlier transaction: another program may have moved the card to another applet. Then the
//    AP is selected again, the EF select retried once, and security_epoch() increases.
//  * Operations that rely on a verified PIN (sign, sign_pss_sha256, reading EF 0001) never select
//    the AP: if it had to be selected (unknown selection, or the 6A82 case above) they throw
//    CardError Kind::SecurityStateLost instead of sending the command. So the AP is never
//    re-selected between a VERIFY and the SIGN that relies on it.
//
// Card reset (transport::CardReset from begin_transaction or transmit): the applet calls
// connection.reconnect(), forgets all selection state, increases security_epoch(), and runs
// the operation once more from the start (up to 4 attempts in all), unless it had already sent a
// PIN (VERIFY / CHANGE REFERENCE DATA): a PIN is never re-sent on the applet's own initiative;
// that case, and a fourth reset in a row, throw Kind::SecurityStateLost. A login-dependent operation re-run after a reset throws
// SecurityStateLost without sending anything (its AP selection is unknown).
//
// The token layer's duty: keep login state per PIN itself (the card cannot tell), remember
// security_epoch() when a VERIFY succeeds, and drop every login when the epoch moves on or any
// SecurityStateLost arrives.
//
// Not thread-safe: the token layer serialises calls with its per-card I/O mutex.
#pragma once

#include "card/apdu.hpp"
#include "card/commands.hpp"
#include "card/errors.hpp"
#include "card/pin_policy.hpp"
#include "card/profile.hpp"
#include "card/read_plan.hpp"

#include <jpki/secure_bytes.hpp>
#include <jpki/transport.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>

namespace jpki::card {

// What probe() learns about a card that answers the JPKI AID.
struct CardInfo {
    std::string label;  // EF 0006 label without padding, e.g. "JPKIAPICCTOKEN2"
};

// Called inside a VERIFY's transaction with the PIN's counter, right before the VERIFY; it
// throws to stop the VERIFY (the token layer's final-try guard, docs/design.md §3 "Login").
using TriesCheck = std::function<void(int tries_left)>;

// Whether a SIGN may rely on the key EF our previous SIGN left selected (see sign()).
enum class KeySelection { Select, KeepPrevious };

class JpkiApplet {
public:
    // `plan`: what is known of the card and reader's READ BINARY forms (default: nothing yet).
    // `profile`: the card's AID, files, PINs and keys (card/profile.hpp); it must outlive the
    // applet (the profiles are constexpr tables with static storage).
    explicit JpkiApplet(transport::Connection& connection, ReadPlan plan = {},
                        const CardProfile& profile = jpki_card_profile) noexcept;
    // Owning form; throws std::invalid_argument for a null connection.
    explicit JpkiApplet(std::unique_ptr<transport::Connection> connection, ReadPlan plan = {},
                        const CardProfile& profile = jpki_card_profile);
    JpkiApplet(const JpkiApplet&) = delete;
    JpkiApplet& operator=(const JpkiApplet&) = delete;
    JpkiApplet(JpkiApplet&&) = delete;
    JpkiApplet& operator=(JpkiApplet&&) = delete;
    ~JpkiApplet() = default;

    // Is this a JPKI card? SELECT AP + READ BINARY of EF 0006's label by its short EF identifier,
    // or SELECT EF 0006 + READ BINARY when the card refuses that (detection by AID, not ATR).
    // nullopt when the AID or EF 0006 is refused, or the card's answers are malformed (no
    // status word, a label longer than asked for). Always selects the AP.
    std::optional<CardInfo> probe();

    // Does the card hold a signing certificate (not on under-15 / face-authentication cards)?
    // EF 0008 byte 0 [ONE]; when EF 0008 is absent or unreadable, whether EF 0001 exists.
    bool has_sign_certificate();

    // The DER certificate in EF 000A, 000B, 0001 or 0002 (std::invalid_argument for any other),
    // read in the first form read_plan() does not rule out (see card/read_plan.hpp):
    //  * the whole file in one READ BINARY with an extended Le of 00 00, by short EF identifier
    //    (no SELECT EF) or after SELECT EF; it starts with 30 82 hh ll and the filler after the
    //    4 + hhll bytes is dropped. (Reading the 4 bytes first would cost an APDU more to save
    //    sending the filler, a few hundred bytes.)
    //  * else SELECT EF + READ BINARY 256 bytes at offset 0, then the rest in chunks of up to
    //    256 bytes (if the card refuses the long first read, a 4-byte read follows).
    // A card's error status or transport::ExtendedLengthRefused moves to the next form inside
    // the same transaction. EF 0001 needs the SignPin verified (6982 ->
    // SecurityStatusNotSatisfied, no other form tried) and is read under the rule above: the AP
    // is never selected for it. Filler after the DER object is not returned.
    // The profile's certificate and CA certificate files are the only ones (e.g.
    // profile().role(PinRole::Auth).certificate); the file's access says whether the PIN is needed.
    Bytes read_certificate(Fid certificate_ef);
    Bytes read_certificate(const ReadableFile& certificate);

    // The PIN's retry counter via SELECT PIN EF + empty VERIFY (spends no try): 63Cx -> x,
    // 6984 -> 0. A 9000 answer (PIN verified, counter refilled) -> the maximum.
    int tries_left(PinRole role);

    // Checks the PIN format first (PinLengthOutOfRange / PinInvalidCharacter, zero APDUs),
    // upper-cases a SignPin, then SELECT AP, SELECT PIN EF, VERIFY.
    // 63Cx -> PinIncorrect (tries_left x); 63C0 / 6984 -> PinLocked.
    // With `check`: the empty VERIFY reads the counter between SELECT PIN EF and VERIFY, in the
    // same transaction, and `check` decides whether the VERIFY goes out.
    void verify(PinRole role, const SecureBytes& pin, const TriesCheck& check = {});

    // COMPUTE DIGITAL SIGNATURE P1 00 with the key of `key` (EF 0017 / 001A): the card applies
    // PKCS#1 v1.5 type-1 padding to the input, whose length must be within the profile's limits
    // for the format (1..245 bytes, a DigestInfo, on the JPKI card); else WrongLength, zero APDUs.
    // A format the profile does not list for the key: FunctionNotSupported, zero APDUs.
    // 6982 -> SecurityStatusNotSatisfied: the caller reports "not logged in", never re-sends a PIN.
    // KeySelection::KeepPrevious skips the SELECT of the key EF when our previous SIGN used the
    // same key and we have selected nothing since: a series of signatures then costs one APDU
    // each. Another program may have selected another EF in between, so the caller must check
    // such a signature against the key's public key and sign again with Select if it fails.
    Bytes sign(PinRole key, std::span<const std::uint8_t> input, KeySelection selection = KeySelection::Select);
    // P1 04: RSASSA-PSS over a 32-byte SHA-256 hash (else WrongLength, zero APDUs; the limits
    // and FunctionNotSupported as for sign()).
    // 6A86 -> FunctionNotSupported.
    Bytes sign_pss_sha256(PinRole key, std::span<const std::uint8_t> hash,
                          KeySelection selection = KeySelection::Select);

    // Both PINs checked by the policy before any APDU; then SELECT AP, SELECT PIN EF, VERIFY old,
    // CHANGE REFERENCE DATA new. The PIN stays verified afterwards (docs/card.md, ISO 7816-4).
    // `check` as for verify().
    void change_pin(PinRole role, const SecureBytes& old_pin, const SecureBytes& new_pin,
                    const TriesCheck& check = {});

    // n random bytes from GET CHALLENGE, in requests of up to 256 bytes; n = 0 sends nothing.
    Bytes get_challenge(std::size_t n);

    // Runs body, which calls this applet's operations, inside one card transaction, so that
    // nothing of another program's comes between them (e.g. tries_left() then verify() for the
    // final-try guard). After a reset body may run a second time (same rule as above).
    template <class F>
    decltype(auto) in_transaction(F&& body) {
        return run(std::forward<F>(body));
    }

    // Ends every verified PIN on the card, for every program sharing it: a warm reset through the
    // reader (Connection::reset_card). No JPKI logout command is known and VERIFY P1 FF is
    // untested on this card (docs/card.md "Security state"); a reset is proven. Not inside
    // in_transaction(). Afterwards security_epoch() and resets_seen() have increased.
    void reset_card();

    // How many card resets this applet has seen (its own reset_card() and resets by others it
    // recovered from): a PIN verified before the count last moved is no longer verified.
    [[nodiscard]] std::uint64_t resets_seen() const noexcept { return resets_seen_; }

    // Increases whenever verified PINs on the card must be presumed lost: a card reset, or the
    // AP re-selected because an EF select answered 6A82.
    [[nodiscard]] std::uint64_t security_epoch() const noexcept { return security_epoch_; }

    // The caller's declaration "the card may have been touched by others": the AP selection is
    // no longer trusted. Login-dependent operations then throw SecurityStateLost until the next
    // verify().
    void forget_selection() noexcept;

    [[nodiscard]] transport::Connection& connection() noexcept { return connection_; }
    [[nodiscard]] const CardProfile& profile() const noexcept { return profile_; }
    // What this card and reader were found to take (short EF identifiers, extended Le).
    [[nodiscard]] const ReadPlan& read_plan() const noexcept { return read_plan_; }

private:
    enum class Need { Nothing, SecurityState };  // does the operation rely on a verified PIN?

    // One transaction's scope: begins it, and clears the per-transaction selection memory on
    // both ends.
    class TransactionScope {
    public:
        explicit TransactionScope(JpkiApplet& applet);
        ~TransactionScope();
        TransactionScope(const TransactionScope&) = delete;
        TransactionScope& operator=(const TransactionScope&) = delete;
        TransactionScope(TransactionScope&&) = delete;
        TransactionScope& operator=(TransactionScope&&) = delete;

    private:
        JpkiApplet& applet_;
        transport::Transaction transaction_;
    };

    template <class F>
    decltype(auto) run(F&& body) {
        if (depth_ > 0) return body();  // already inside in_transaction()
        for (int attempt = 0;; ++attempt) {
            secret_sent_ = false;
            try {
                TransactionScope scope(*this);
                return body();
            } catch (const transport::CardReset&) {
                recover_from_reset();
                // Other programs ending their logins reset the card too (issue 7): a few resets
                // in a row are survived, as long as no PIN went out in this attempt.
                if (attempt + 1 >= max_reset_attempts || secret_sent_) throw_security_state_lost("card was reset");
            } catch (const transport::Error&) {
                forget_selection();
                throw;
            }
        }
    }

    static constexpr int max_reset_attempts = 4;
    void recover_from_reset();
    [[noreturn]] static void throw_security_state_lost(const std::string& why);

    Response exchange(std::span<const std::uint8_t> apdu);
    Response exchange_secret(const SecureBytes& apdu);
    void select_ap();
    // What a 6A82 on an EF select means when the AP was remembered from an earlier transaction:
    // usually that another program moved the card to another applet (re-select ours, retry once).
    enum class OnFileNotFound { ReselectAp, Absent };
    // true once `fid` is the current EF, false when the card answers 6A82.
    bool select_ef_if_present(Fid fid, Need need, OnFileNotFound on_not_found = OnFileNotFound::ReselectAp);
    void select_ef(Fid fid, Need need);
    // The AP selected (or SecurityStateLost for `need`), as before any EF access.
    void ensure_ap(Need need);
    // READ BINARY of a small file (`length` bytes at offset 0) by short EF identifier when the
    // plan allows it, else SELECT EF + READ BINARY. nullopt when the EF does not exist (6A82).
    std::optional<Response> read_small_file(const ReadableFile& file, std::size_t length, OnFileNotFound on_not_found);
    // The first answer of a certificate read: the whole file, or its first 256 (or 4) bytes with
    // the EF selected. Tries the plan's forms in turn.
    Response read_certificate_head(const ReadableFile& file, Need need);
    void verify_selected_pin(PinRole role, const SecureBytes& normalised_pin, const TriesCheck& check);
    int read_tries_left(PinRole role);  // empty VERIFY on the selected PIN EF
    Bytes compute_digital_signature(PinRole key, std::span<const std::uint8_t> data,
                                    command::SignatureFormat format, KeySelection selection);

    const CardProfile& profile_;
    std::unique_ptr<transport::Connection> owned_;
    transport::Connection& connection_;

    bool ap_selected_ = false;       // JPKI AP believed current (survives transactions)
    bool ap_selected_here_ = false;  // ... and selected by us in the current transaction
    std::optional<Fid> ef_;          // EF selected in the current transaction
    std::optional<Fid> signed_with_; // key EF of our last SIGN, while we have selected nothing since
    int depth_ = 0;                  // > 0 inside a transaction
    bool secret_sent_ = false;       // a PIN went out in the current attempt
    std::uint64_t security_epoch_ = 0;
    std::uint64_t resets_seen_ = 0;
    ReadPlan read_plan_;             // survives resets: same card, same reader
};

}  // namespace jpki::card
