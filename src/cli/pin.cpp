// `jpki pin change|verify auth|sign` (issue 8): changing a PIN, and checking one, which is the
// deliberate way to spend a last try (docs/design.md §3 "Login": no other command ever does).
//
// Order of events, so that a mistake costs nothing: the card's counter is read first (an empty
// VERIFY spends no try), then every PIN is read and its format checked, then the PIN goes out
// once, inside the transaction that reads the counter again (TriesCheck). The card is reset when
// the command ends (OpenCard), so it is not left logged in.
#include "card/pin_policy.hpp"
#include "cli/card_access.hpp"
#include "cli/cli.hpp"
#include "cli/i18n.hpp"
#include "cli/terminal.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <vector>

namespace jpki::cli {
namespace {

constexpr std::array<OptionSpec, 3> change_options{{{"reader", true}, {"help", false}, {"h", false}}};
constexpr std::array<OptionSpec, 4> verify_options{{{"reader", true}, {"yes", false}, {"help", false}, {"h", false}}};

void print_help() {
    std::printf("%s\n", tr("Usage: jpki pin change auth|sign [--reader NAME]\n"
                           "       jpki pin verify auth|sign [--reader NAME] [--yes]\n"
                           "\n"
                           "change  Change the authentication PIN (auth, 4 digits) or the signature password\n"
                           "        (sign, 6 to 16 capital letters and digits): the current one, then the new\n"
                           "        one twice. Refused at 1 try left: use 'jpki pin verify' first.\n"
                           "verify  Check a PIN on the card. A correct entry fills the tries up again. At 1 try\n"
                           "        left it asks first, because a wrong entry locks the PIN.\n"
                           "\n"
                           "Options:\n"
                           "  --reader NAME  the reader holding the card (when several cards are inserted)\n"
                           "  --yes          (verify) use the last try without asking (for scripts)\n"
                           "\n"
                           "PINs are read from the terminal without echo, or one per line from standard input."));
}

bool wants_help(const Args& args) { return args.flag("help") || args.flag("h"); }

card::PinRole role_of(const Args& args) {
    args.expect_operands(1, 1);
    const std::string& word = args.operands()[0];
    if (word == "auth") return card::PinRole::Auth;
    if (word == "sign") return card::PinRole::Sign;
    args.usage_error(msg(tr("unknown PIN '{}' (auth or sign)"), word));
}

// Issue 8: without a signing certificate (cards issued to under-15s) the card answered the
// signature password's SELECT with 6A82, shown raw. Checked before any PIN, like sign and cert.
void require_signature_password(OpenCard& card, card::PinRole role) {
    if (role == card::PinRole::Sign && !card.applet().has_sign_certificate())
        throw CliError(ExitCode::Failure, tr("This card has no signature password (no signing certificate: cards issued "
                                             "to under-15s)."));
}

// The card takes a signature password's a-z as A-Z (card::normalise_pin): worth telling, since
// the holder must type it that way (or any way) again. The PIN itself is never printed.
bool has_lower_case(const SecureBytes& pin) {
    const auto bytes = pin.view();
    return std::any_of(bytes.begin(), bytes.end(), [](std::uint8_t c) { return c >= 'a' && c <= 'z'; });
}

int change(const std::vector<std::string>& words) {
    const Args args("jpki pin change", words, change_options);
    if (wants_help(args)) {
        print_help();
        return 0;
    }
    const card::PinRole role = role_of(args);
    CardAccess access;
    const auto card = access.open(args.value("reader"));
    require_signature_password(*card, role);
    // Before anything is typed: at 1 try left a wrong current PIN would lock it.
    final_try_guard(role)(card->applet().tries_left(role));

    const SecureBytes old_pin = read_pin(role, msg(tr("Current {}: "), pin_name(role)));
    const SecureBytes new_pin = read_pin(role, msg(tr("New {}: "), pin_name(role)));
    const SecureBytes again = read_pin(role, msg(tr("New {}, again: "), pin_name(role)));
    // Compared as the card would take them (a-z as A-Z for the signature password).
    const SecureBytes new_normalised = card::normalise_pin(role, new_pin.view());
    const SecureBytes again_normalised = card::normalise_pin(role, again.view());
    if (!std::ranges::equal(new_normalised.view(), again_normalised.view()))
        throw CliError(ExitCode::Usage, tr("The two entries of the new PIN differ. Nothing was sent to the card."));

    card->change_pin(role, old_pin, new_pin, final_try_guard(role));
    const int left = card->applet().tries_left(role);
    std::printf("%s\n", msg(ntr("The {0} has been changed ({1} try available).",
                                "The {0} has been changed ({1} tries available).", static_cast<unsigned long>(left)),
                            pin_name(role), left)
                            .c_str());
    if (role == card::PinRole::Sign && has_lower_case(new_pin))
        std::printf("%s\n", tr("Lower-case letters count as capitals: your new signature password is what you "
                               "typed, in capital letters."));
    else if (role == card::PinRole::Sign && has_lower_case(old_pin))
        std::printf("%s\n", tr("Lower-case letters count as capitals: the card took your entry in capital letters."));
    return 0;
}

int verify(const std::vector<std::string>& words) {
    const Args args("jpki pin verify", words, verify_options);
    if (wants_help(args)) {
        print_help();
        return 0;
    }
    const card::PinRole role = role_of(args);
    CardAccess access;
    const auto card = access.open(args.value("reader"));
    require_signature_password(*card, role);
    const int tries = card->applet().tries_left(role);
    if (tries <= 0) final_try_guard(role)(tries);  // locked: throws, nothing is sent

    // This command is the deliberate way to spend a last try, so its guard is the holder's yes.
    bool confirmed = args.flag("yes");
    if (tries == 1) {
        std::fprintf(stderr, "%s\n",
                     msg(tr("The {} has only 1 try left. A wrong entry now locks it, and only your city office "
                            "can unlock it (bring the card and an identity document)."),
                         pin_name(role))
                         .c_str());
        if (!confirmed) {
            confirmed = confirm(tr("Use the last try?"));
            // A piped answer is not echoed: end the question's line ourselves.
            if (!stdin_is_terminal()) std::fputs("\n", stderr);
        }
        if (!confirmed) throw CliError(ExitCode::PinLocked, tr("Not confirmed: nothing was sent to the card."));
    }

    const SecureBytes pin = read_pin(role, msg(tr("{}: "), pin_name(role)));
    // The counter may have moved since (another program): the same rules, in the VERIFY's own
    // transaction.
    card->verify(role, pin, [role, confirmed](int tries_now) {
        if (tries_now <= 0 || (tries_now == 1 && !confirmed)) final_try_guard(role)(tries_now);
    });
    const int left = card->applet().tries_left(role);
    std::printf("%s\n", msg(ntr("The {0} is correct ({1} try available).", "The {0} is correct ({1} tries available).",
                                static_cast<unsigned long>(left)),
                            pin_name(role), left)
                            .c_str());
    if (role == card::PinRole::Sign && has_lower_case(pin))
        std::printf("%s\n", tr("Lower-case letters count as capitals: the card took your entry in capital letters."));
    return 0;
}

}  // namespace

int run_pin(const std::vector<std::string>& words) {
    if (words.empty() || words[0] == "--help" || words[0] == "-h") {
        print_help();
        return words.empty() ? static_cast<int>(ExitCode::Usage) : 0;
    }
    const std::vector<std::string> rest(words.begin() + 1, words.end());
    if (words[0] == "change") return change(rest);
    if (words[0] == "verify") return verify(rest);
    throw CliError(ExitCode::Usage, msg(tr("jpki pin: unknown action '{}' (change or verify)\nTry 'jpki pin --help'."),
                                        words[0]));
}

}  // namespace jpki::cli
