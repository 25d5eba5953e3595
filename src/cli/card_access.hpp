// Readers and cards for the `jpki` command (issue 8): the PC/SC transport, the JPKI applet on a
// chosen card, and what each failure means for the holder, with the command that fixes it.
// Layer: cli/ over card/ and transport/.
//
// A PIN verified through an OpenCard never outlives it: the destructor resets the card
// (JpkiApplet::reset_card, the one proven way to end a login, docs/card.md "Security state"), so
// the card is not left signing for other programs after `jpki` exits.
#pragma once

#include "cache/card_cache.hpp"
#include "card/jpki_applet.hpp"
#include "cli/cli.hpp"
#include "crypto/context.hpp"

#include <jpki/transport.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace jpki::cli {

// The per-user card cache of one `jpki` run (src/cache/card_cache.hpp), shared by the cards it
// opens; its problems go to stderr, once. Made on the first card opened.
struct RunCache {
    RunCache();
    crypto::Context crypto;
    cache::CardCache cache;
};

class OpenCard {
public:
    // `plan`: what the probe learnt of the READ BINARY forms; `known`: what the cache held for
    // this card's ATR in this reader (the record is updated when the plan learns more).
    OpenCard(std::string reader, std::unique_ptr<transport::Connection> connection, card::CardInfo info,
             card::ReadPlan plan = {}, std::shared_ptr<RunCache> cache = nullptr, cache::ReadForms known = {});
    // Resets the card when a PIN went out through verify()/change_pin(); records the READ BINARY
    // forms learnt (issue 11: the next run skips a refused form).
    ~OpenCard();
    OpenCard(const OpenCard&) = delete;
    OpenCard& operator=(const OpenCard&) = delete;
    OpenCard(OpenCard&&) = delete;
    OpenCard& operator=(OpenCard&&) = delete;

    [[nodiscard]] const std::string& reader() const noexcept { return reader_; }
    [[nodiscard]] const card::CardInfo& info() const noexcept { return info_; }
    // For PIN-free operations (certificates, tries_left, has_sign_certificate). Use verify() and
    // change_pin() below for anything that sends a PIN.
    [[nodiscard]] card::JpkiApplet& applet() noexcept { return applet_; }

    // JpkiApplet::verify / change_pin, remembering that the card now holds a verified PIN.
    void verify(card::PinRole role, const SecureBytes& pin, const card::TriesCheck& check = {});
    void change_pin(card::PinRole role, const SecureBytes& old_pin, const SecureBytes& new_pin,
                    const card::TriesCheck& check = {});

    // Records in the per-user cache what the applet's ReadPlan learnt beyond what it holds; cheap
    // when nothing changed, never throws. The destructor calls it; a command may call it sooner.
    void remember_read_forms() noexcept;

private:
    std::string reader_;
    Bytes atr_;  // before applet_: read from the connection the applet then owns
    card::JpkiApplet applet_;
    card::CardInfo info_;
    bool pin_sent_ = false;
    std::shared_ptr<RunCache> cache_;
    cache::ReadForms recorded_;  // what the cache holds, as far as this object knows
};

class CardAccess {
public:
    CardAccess();  // the PC/SC transport (PCSCLITE_CSOCK_NAME is honoured by PCSC-lite)
    // Tests may bring their own transport.
    explicit CardAccess(std::unique_ptr<transport::Transport> transport);

    // Every reader with its card state. CliError(NoCard) with the fix when pcscd cannot be reached.
    [[nodiscard]] std::vector<transport::ReaderStatus> readers();

    // The My Number Card in `reader`, or in the only reader holding a card when no reader is
    // named. CliError(NoCard): no reader, no card, the named reader does not exist, or the card
    // is not a My Number Card; CliError(Usage): several cards and no --reader.
    [[nodiscard]] std::unique_ptr<OpenCard> open(const std::optional<std::string>& reader);

    // Opens the card in one given reader: nullptr when it holds no card or not a My Number Card.
    [[nodiscard]] std::unique_ptr<OpenCard> try_open(const std::string& reader);

private:
    std::unique_ptr<transport::Transport> transport_;
    std::shared_ptr<RunCache> cache_;  // made by the first try_open
};

// Reads a PIN (terminal without echo, or a line of stdin) and checks its format before anything
// reaches a card: CliError(Usage) naming the rule ("4 digits"; "6 to 16 letters A-Z and digits")
// when it breaks it. `prompt` is shown on a terminal only.
[[nodiscard]] SecureBytes read_pin(card::PinRole role, const std::string& prompt);

// The final-try guard for every operation that sends a PIN on its own (status --sign, sign):
// a TriesCheck that refuses the VERIFY when the card has one try left (CliError(PinLocked),
// pointing to `jpki pin verify`, the deliberate way) or none (CliError(PinLocked), city office).
// docs/design.md §3 "Login": an application must never burn the last try.
[[nodiscard]] card::TriesCheck final_try_guard(card::PinRole role);

// The PIN's name for messages: "authentication PIN" / "signature password" (translated).
[[nodiscard]] std::string pin_name(card::PinRole role);

// What an exception from the card, transport or crypto layer means for the holder: exit code and
// a translated message (with the fixing command where there is one). Used by main() for anything
// a subcommand lets through.
[[nodiscard]] std::pair<ExitCode, std::string> describe_failure(const std::exception_ptr& failure);

// The fix for "pcscd cannot be reached", as shown to the user (also used by `jpki doctor`).
[[nodiscard]] std::string pcscd_fix();

}  // namespace jpki::cli
