// `jpki pss probe [--sign] [--reader NAME]` (issue 12; docs/design.md §6): at the holder's
// request, whether the card's key signs RSA-PSS (COMPUTE DIGITAL SIGNATURE P1 04, which TLS 1.3
// client logins need), recorded in the per-user card cache where the module (pss = auto) and
// `jpki status` read it.
//
// The PIN is handled as `jpki sign` handles it: tries read and the final-try guard applied before
// the PIN is typed, its format checked before it goes out (read_pin), the VERIFY and the one
// signature in one transaction, and the card reset when the command ends (OpenCard), so it is not
// left logged in. The signature is over 32 random bytes and is thrown away: it signs nothing.
#include "cache/card_cache.hpp"
#include "card/profile.hpp"
#include "card/pss_proof.hpp"
#include "cli/card_access.hpp"
#include "cli/cli.hpp"
#include "cli/i18n.hpp"
#include "crypto/certificate.hpp"
#include "crypto/context.hpp"
#include "crypto/random.hpp"
#include "crypto/rsa.hpp"

#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace jpki::cli {
namespace {

constexpr std::array<OptionSpec, 4> probe_options{{{"sign", false}, {"reader", true}, {"help", false}, {"h", false}}};

void print_help() {
    std::printf("%s\n", tr("Usage: jpki pss probe [--sign] [--reader NAME]\n"
                           "\n"
                           "Tests whether the card signs with RSA-PSS, which TLS 1.3 logins with a client\n"
                           "certificate need, and remembers the answer for this card in your cache folder\n"
                           "($XDG_CACHE_HOME/jpki-pkcs11, else ~/.cache/jpki-pkcs11), where the PKCS#11 module\n"
                           "and 'jpki status' read it. It asks for the PIN, then has the card sign 32 random\n"
                           "bytes once and checks the signature with the certificate: nothing meaningful is\n"
                           "signed.\n"
                           "\n"
                           "Options:\n"
                           "  --sign         test the signing key (asks for the signature password) instead of\n"
                           "                 the authentication key (asks for the 4-digit PIN)\n"
                           "  --reader NAME  the reader holding the card\n"
                           "\n"
                           "With pss = auto (the default) the module tests the authentication key by itself\n"
                           "at the first login. It never tests the signing key: a signature with your legally\n"
                           "binding key is made only when you ask for one, and --sign is you asking.\n"
                           "\n"
                           "Exit codes: 0 RSA-PSS proven; 8 the card does not sign RSA-PSS; 6 proven, but the\n"
                           "answer could not be recorded (see the warning); 1 to 5 as for every command."));
}

// Records `proven`. Returns the reason it was not kept, or nullopt. A damaged record that the new
// one replaces is no reason: the answer is kept all the same.
std::optional<std::string> record(crypto::Context& context, const std::string& token_serial, cache::Key key,
                                  bool proven) {
    std::vector<std::string> problems;  // as the cache tells them (once per cache object)
    const auto folder = cache::CardCache::user_folder();
    if (!folder) return tr("no cache folder (neither XDG_CACHE_HOME nor HOME is set)");
    cache::CardCache cache(context, folder, [&problems](const std::string& problem) { problems.push_back(problem); });
    if (cache.set_pss(token_serial, key, proven)) return std::nullopt;
    if (!problems.empty()) return problems.front();
    return msg(tr("{} did not keep it"), folder->string());
}

void print_outcome(card::PinRole role, card::PssProof proof, bool recorded) {
    const bool auth = role == card::PinRole::Auth;
    if (proof == card::PssProof::Proven && !recorded) {
        std::printf("%s\n", tr("RSA-PSS: proven for this card, but the answer could not be recorded, so programs "
                               "will not offer it yet (see the warning below)."));
        return;
    }
    if (proof == card::PssProof::Proven) {
        std::printf("%s\n", auth ? tr("RSA-PSS: proven for this card's authentication key; TLS 1.3 logins will work "
                                      "after restarting Firefox (and any other program that has the card open).")
                                 : tr("RSA-PSS: proven for this card's signing key; programs that use the module "
                                      "offer it after they restart."));
        return;
    }
    std::printf("%s\n", auth ? tr("This card does not sign RSA-PSS (the card refused): TLS 1.3 client login is "
                                  "not possible; TLS 1.2 works.")
                             : tr("This card's signing key does not sign RSA-PSS (the card refused): it signs "
                                  "with PKCS#1 v1.5 only."));
}

int probe(const std::vector<std::string>& words) {
    const Args args("jpki pss probe", words, probe_options);
    if (args.flag("help") || args.flag("h")) {
        print_help();
        return 0;
    }
    args.expect_operands(0, 0);
    const card::PinRole role = args.flag("sign") ? card::PinRole::Sign : card::PinRole::Auth;

    CardAccess access;
    const auto card = access.open(args.value("reader"));
    if (role == card::PinRole::Sign && !card->applet().has_sign_certificate())
        throw CliError(ExitCode::Failure, tr("This card has no signing certificate (cards issued to children under 15 "
                                             "have none): there is no signing key to test."));
    crypto::Context context;
    // Free to read: it names the card in the cache (the module's token serial) and, for the
    // authentication key, checks the signature.
    const crypto::Certificate auth_certificate(
        context, card->applet().read_certificate(card->applet().profile().role(card::PinRole::Auth).certificate));
    // Refused before the PIN is typed at 1 try left or locked; checked again right before the VERIFY.
    final_try_guard(role)(card->applet().tries_left(role));
    const SecureBytes pin = read_pin(role, msg(tr("{}: "), pin_name(role)));

    card::PssProof proof = card::PssProof::Refused;
    // One transaction, as `jpki sign`: nothing of another program's comes between the VERIFY and
    // the signature, and the PIN goes out once.
    card->applet().in_transaction([&] {
        card->verify(role, pin, final_try_guard(role));
        std::optional<crypto::Certificate> sign_certificate;
        if (role == card::PinRole::Sign)  // readable only after the VERIFY
            sign_certificate.emplace(
                context, card->applet().read_certificate(card->applet().profile().role(card::PinRole::Sign).certificate));
        const crypto::RsaPublicKey key = (sign_certificate ? *sign_certificate : auth_certificate).public_key();
        const Bytes hash = crypto::random_bytes(context, card::pss_hash_length);
        proof = card::prove_pss(card->applet(), role, hash, [&](crypto::ByteView signed_hash, crypto::ByteView signature) {
            return crypto::verify_pss_sha256(context, key, signed_hash, signature);
        });
    });

    // A signature that does not verify proves nothing either way (a garbled answer on the way):
    // nothing is recorded, and the card is not called one that refuses.
    if (proof == card::PssProof::NotVerified)
        throw CliError(ExitCode::Failure, tr("The card answered an RSA-PSS signature that does not verify (perhaps a "
                                             "garbled answer from the reader): nothing was recorded. Run the command "
                                             "again."));
    const bool proven = proof == card::PssProof::Proven;
    const auto not_recorded = record(context, auth_certificate.token_serial(),
                                     role == card::PinRole::Auth ? cache::Key::Auth : cache::Key::Sign, proven);
    print_outcome(role, proof, !not_recorded);
    if (not_recorded) {
        std::fflush(stdout);
        std::fprintf(stderr, "%s\n",
                     msg(tr("Warning: the answer was not recorded: {}. The module reads it from the card cache "
                            "($XDG_CACHE_HOME/jpki-pkcs11, else ~/.cache/jpki-pkcs11); make that folder writable by "
                            "you, then run this command again."),
                         *not_recorded)
                         .c_str());
    }
    if (!proven) return static_cast<int>(ExitCode::Refused);
    return static_cast<int>(not_recorded ? ExitCode::Attention : ExitCode::Ok);
}

}  // namespace

int run_pss(const std::vector<std::string>& words) {
    if (words.empty() || words[0] == "--help" || words[0] == "-h") {
        print_help();
        return words.empty() ? static_cast<int>(ExitCode::Usage) : 0;
    }
    if (words[0] == "probe") return probe(std::vector<std::string>(words.begin() + 1, words.end()));
    throw CliError(ExitCode::Usage,
                   msg(tr("jpki pss: unknown action '{}' (probe)\nTry 'jpki pss --help'."), words[0]));
}

}  // namespace jpki::cli
