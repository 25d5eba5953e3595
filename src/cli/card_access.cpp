// Readers, cards and failure messages for the `jpki` command (card_access.hpp).
#include "cli/card_access.hpp"

#include "card/errors.hpp"
#include "card/pin_policy.hpp"
#include "cli/i18n.hpp"
#include "cli/terminal.hpp"
#include "crypto/error.hpp"
#include "transport/pcsc.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace jpki::cli {

RunCache::RunCache()
    : cache(crypto, cache::CardCache::user_folder(), [](const std::string& problem) {
          // A path and the system's reason (card_cache.hpp); the run goes on without the cache.
          std::fprintf(stderr, "%s\n", msg(tr("Warning: the card cache could not be used: {}"), problem).c_str());
      }) {}

OpenCard::OpenCard(std::string reader, std::unique_ptr<transport::Connection> connection, card::CardInfo info,
                   card::ReadPlan plan, std::shared_ptr<RunCache> cache, cache::ReadForms known)
    : reader_(std::move(reader)), atr_(connection ? connection->atr() : Bytes{}),
      applet_(std::move(connection), plan), info_(std::move(info)), cache_(std::move(cache)), recorded_(known) {}

void OpenCard::remember_read_forms() noexcept {
    if (cache_) cache_->cache.record_lessons(reader_, atr_, applet_.read_plan(), recorded_);
}

OpenCard::~OpenCard() {
    remember_read_forms();
    if (!pin_sent_) return;
    try {
        applet_.reset_card();
    } catch (...) {
        // The card left the reader or pcscd went away: either way its login is gone with it.
    }
}

namespace {

// The TriesCheck the applet runs right before the VERIFY goes out (inside its transaction): the
// caller's check first, then "a PIN is about to be sent". A refusal by the check sends nothing,
// so it must not cost other programs their login through a reset (new-user test, issue 8).
// Without a check the PIN goes out at once (the applet reads no counter then).
card::TriesCheck noting_pin_sent(const card::TriesCheck& check, bool& pin_sent) {
    if (!check) {
        pin_sent = true;
        return {};
    }
    return [&check, &pin_sent](int tries_left) {
        check(tries_left);
        pin_sent = true;
    };
}

// The card's PinIncorrect / PinLocked as a message naming the PIN (the card layer does not know
// which PIN a caller means).
[[noreturn]] void rethrow_naming_pin(const card::CardError& e, card::PinRole role) {
    using Kind = card::CardError::Kind;
    if (e.kind() == Kind::PinIncorrect) {
        const auto n = static_cast<unsigned long>(e.tries_left());
        throw CliError(ExitCode::PinIncorrect,
                       msg(ntr("Wrong {0}. {1} try left before it locks.", "Wrong {0}. {1} tries left before it locks.", n),
                           pin_name(role), e.tries_left()));
    }
    if (e.kind() == Kind::PinLocked)
        throw CliError(ExitCode::PinLocked,
                       msg(tr("The {} is locked. Only your city office can unlock it: bring the card and an "
                              "identity document."),
                           pin_name(role)));
    throw;
}

}  // namespace

void OpenCard::verify(card::PinRole role, const SecureBytes& pin, const card::TriesCheck& check) {
    try {
        applet_.verify(role, pin, noting_pin_sent(check, pin_sent_));
    } catch (const card::CardError& e) {
        // (A VERIFY that went out and then failed in transport may still have been verified by
        // the card: pin_sent_, set just before it, makes the destructor reset the card.)
        rethrow_naming_pin(e, role);
    }
}

void OpenCard::change_pin(card::PinRole role, const SecureBytes& old_pin, const SecureBytes& new_pin,
                          const card::TriesCheck& check) {
    try {
        applet_.change_pin(role, old_pin, new_pin, noting_pin_sent(check, pin_sent_));
    } catch (const card::CardError& e) {
        rethrow_naming_pin(e, role);
    }
}

CardAccess::CardAccess() : transport_(std::make_unique<transport::PcscTransport>()) {}

CardAccess::CardAccess(std::unique_ptr<transport::Transport> transport) : transport_(std::move(transport)) {}

std::vector<transport::ReaderStatus> CardAccess::readers() {
    try {
        return transport_->readers();
    } catch (const transport::ServiceUnavailable&) {
        throw CliError(ExitCode::NoCard, msg(tr("The smart card service (pcscd) is not running.\n  Fix: {}"), pcscd_fix()));
    }
}

std::unique_ptr<OpenCard> CardAccess::try_open(const std::string& reader) {
    std::unique_ptr<transport::Connection> connection;
    try {
        connection = transport_->connect(reader);
    } catch (const transport::CardRemoved&) {
        return nullptr;
    }
    // The READ BINARY forms an earlier run learnt for this card model in this reader (issue 11):
    // a form known refused is not tried again; a form recorded as working that the card refuses
    // still falls back inside the read (card/read_plan.hpp) and the record is corrected.
    if (!cache_) {
        try {
            cache_ = std::make_shared<RunCache>();
        } catch (const std::exception& e) {  // no OpenSSL context: the run goes on without the cache
            std::fprintf(stderr, "jpki: card cache: %s\n", e.what());
        }
    }
    const cache::ReadForms known = cache_ ? cache_->cache.read_forms(reader, connection->atr()) : cache::ReadForms{};
    card::JpkiApplet applet(*connection, cache::read_plan_from(known));
    auto info = applet.probe();
    if (!info) return nullptr;
    // The probe's lessons go on with the card (the OpenCard's applet starts from them).
    return std::make_unique<OpenCard>(reader, std::move(connection), std::move(*info), applet.read_plan(), cache_,
                                      known);
}

std::unique_ptr<OpenCard> CardAccess::open(const std::optional<std::string>& reader) {
    const auto all = readers();
    if (all.empty())
        throw CliError(ExitCode::NoCard,
                       tr("No smart card reader found. Connect the reader (for a USB reader: plug it in, "
                          "then check `lsusb`); `jpki doctor` shows what pcscd sees."));
    if (reader) {
        const auto it = std::find_if(all.begin(), all.end(), [&](const auto& r) { return r.name == *reader; });
        if (it == all.end()) {
            std::string names;
            for (const auto& r : all) names += "\n  " + r.name;
            throw CliError(ExitCode::NoCard, msg(tr("No reader named '{}'. Readers:{}"), *reader, names));
        }
        if (!it->card_present)
            throw CliError(ExitCode::NoCard, msg(tr("No card in reader '{}'. Insert your My Number Card."), *reader));
        auto card = try_open(*reader);
        if (!card)
            throw CliError(ExitCode::NoCard,
                           msg(tr("The card in reader '{}' is not a My Number Card (it has no JPKI application)."), *reader));
        return card;
    }
    std::vector<std::string> with_card;
    for (const auto& r : all)
        if (r.card_present) with_card.push_back(r.name);
    if (with_card.empty()) throw CliError(ExitCode::NoCard, tr("No card in the reader. Insert your My Number Card."));
    std::vector<std::unique_ptr<OpenCard>> cards;
    for (const auto& name : with_card)
        if (auto card = try_open(name)) cards.push_back(std::move(card));
    if (cards.empty())
        throw CliError(ExitCode::NoCard, tr("The card in the reader is not a My Number Card (it has no JPKI application)."));
    if (cards.size() > 1) {
        std::string names;
        for (const auto& c : cards) names += "\n  " + c->reader();
        throw CliError(ExitCode::Usage, msg(tr("Several My Number Cards are inserted; choose one with --reader NAME:{}"), names));
    }
    return std::move(cards.front());
}

SecureBytes read_pin(card::PinRole role, const std::string& prompt) {
    SecureBytes pin = read_secret(prompt);
    switch (card::check_pin(role, pin.view())) {
    case card::PinCheck::Ok:
        return pin;
    case card::PinCheck::LengthOutOfRange:
    case card::PinCheck::InvalidCharacter:
        break;
    }
    std::string message = role == card::PinRole::Auth
                              ? tr("The authentication PIN is exactly 4 digits. Nothing was sent to the card.")
                              : tr("The signature password is 6 to 16 characters: capital letters A-Z and digits. "
                                   "Nothing was sent to the card.");
    // The two mistakes a rule alone does not explain: full-width input (an IME left in 全角
    // mode gives "１２３４") and a stray space.
    const auto bytes = pin.view();
    if (std::any_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b >= 0x80; }))
        message += "\n" + std::string(tr("The entry contains characters other than A-Z and 0-9: check that the "
                                         "input method is not in full-width mode."));
    else if (std::any_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == ' ' || b == '\t'; }))
        message += "\n" + std::string(tr("The entry contains a space."));
    throw CliError(ExitCode::Usage, message);
}

card::TriesCheck final_try_guard(card::PinRole role) {
    return [role](int tries_left) {
        if (tries_left <= 0)
            throw CliError(ExitCode::PinLocked,
                           msg(tr("The {} is locked. Only your city office can unlock it: bring the card and an "
                                  "identity document."),
                               pin_name(role)));
        if (tries_left == 1)
            throw CliError(ExitCode::PinLocked,
                           msg(tr("The {0} has only 1 try left, so nothing was sent to the card: a wrong entry "
                                  "would lock it. If you are sure of it, use 'jpki pin verify {1}'."),
                               pin_name(role), role == card::PinRole::Auth ? "auth" : "sign"));
    };
}

std::string pin_name(card::PinRole role) {
    return role == card::PinRole::Auth ? tr("authentication PIN") : tr("signature password");
}

std::string pcscd_fix() {
    const bool installed = std::filesystem::exists("/usr/sbin/pcscd");
    return installed ? "sudo systemctl start pcscd.socket" : "sudo apt install pcscd";
}

std::pair<ExitCode, std::string> describe_failure(const std::exception_ptr& failure) {
    try {
        std::rethrow_exception(failure);
    } catch (const CliError& e) {
        return {e.code(), e.what()};
    } catch (const card::CardError& e) {
        using Kind = card::CardError::Kind;
        switch (e.kind()) {
        case Kind::PinIncorrect:
            return {ExitCode::PinIncorrect,
                    msg(ntr("Wrong PIN. {} try left before the PIN locks.", "Wrong PIN. {} tries left before the PIN locks.",
                            static_cast<unsigned long>(e.tries_left())),
                        e.tries_left())};
        case Kind::PinLocked:
            return {ExitCode::PinLocked,
                    tr("The PIN is locked. Only your city office can unlock it: bring the card and an identity document.")};
        case Kind::PinLengthOutOfRange:
        case Kind::PinInvalidCharacter:
            return {ExitCode::Usage, tr("The PIN does not have the right format (nothing was sent to the card).")};
        case Kind::SecurityStateLost:
            return {ExitCode::Failure, tr("Another program reset the card during the operation. Try again.")};
        case Kind::SecurityStatusNotSatisfied:
            return {ExitCode::Failure, tr("The card refused: the PIN is not verified.")};
        default:
            return {ExitCode::Failure, msg(tr("The card answered with an error: {}"), e.what())};
        }
    } catch (const transport::CardRemoved&) {
        return {ExitCode::NoCard, tr("The card was removed from the reader.")};
    } catch (const transport::CardBusy&) {
        return {ExitCode::Failure, tr("Another program is using the card. Close it (or wait) and try again.")};
    } catch (const transport::CardHeldExclusively&) {
        return {ExitCode::Failure,
                tr("Another program holds the card for itself alone, so nothing could be sent to it. Close that "
                   "program and try again. GnuPG's smart card daemon does this by default: stop it with "
                   "'gpgconf --kill scdaemon' (and set 'pcsc-shared' in ~/.gnupg/scdaemon.conf).")};
    } catch (const transport::ServiceUnavailable&) {
        return {ExitCode::NoCard,
                msg(tr("The connection to the smart card service (pcscd) was lost: it stopped or restarted, or "
                       "the reader was unplugged. Run the command again.\n  If pcscd is not running: {}"),
                    pcscd_fix())};
    } catch (const transport::Error& e) {
        return {ExitCode::Failure, msg(tr("Could not talk to the card: {}"), e.what())};
    } catch (const crypto::Error& e) {
        return {ExitCode::Failure, msg(tr("Cryptographic error: {}"), e.what())};
    } catch (const std::exception& e) {
        return {ExitCode::Failure, msg(tr("Error: {}"), e.what())};
    }
}

}  // namespace jpki::cli
