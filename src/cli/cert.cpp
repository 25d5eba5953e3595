// `jpki cert` (issue 8): export the card's certificates (PEM or DER), and verify them offline
// against the J-LIS CA certificates shipped as data (data_paths().ca_dir): the chain by key, the
// validity now, and the CA certificate the card carries (EF 000B / 0002) compared with the files.
// Revocation is not checked, and the output says so.
#include "card/profile.hpp"
#include "cli/card_access.hpp"
#include "cli/certificates.hpp"
#include "cli/cli.hpp"
#include "cli/i18n.hpp"
#include "cli/output_file.hpp"
#include "cli/terminal.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <array>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jpki::cli {

namespace {

using card::PinRole;

void print_help() {
    std::printf("%s\n", tr("Usage: jpki cert export auth|sign|auth-ca|sign-ca [--pem|--der] [-o FILE [--force]] [--reader NAME]\n"
                           "       jpki cert verify [--sign] [--reader NAME]\n"
                           "\n"
                           "export  writes a certificate from the card: auth (authentication certificate),\n"
                           "        sign (signing certificate; asks for the signature password), auth-ca and\n"
                           "        sign-ca (the J-LIS CA certificates on the card). PEM by default, to standard\n"
                           "        output unless -o FILE is given; DER is never written to a terminal. An\n"
                           "        existing FILE is replaced only with --force. The signing certificate's\n"
                           "        file is readable by you only (it holds your name and address).\n"
                           "verify  checks each certificate against the J-LIS CA certificates installed with\n"
                           "        jpki (issuer, validity now, the CA certificate on the card). --sign also\n"
                           "        checks the signing certificate (asks for the signature password).\n"
                           "        Offline: revocation is not checked. Exit code 7 when something does not verify."));
}

// Reads the signing certificate: the final-try guard first (a card at its last try is refused
// before the question), then the password, then VERIFY through OpenCard (reset on its destruction).
Bytes read_sign_certificate(OpenCard& card) {
    const auto guard = final_try_guard(PinRole::Sign);
    guard(card.applet().tries_left(PinRole::Sign));
    const SecureBytes pin = read_pin(PinRole::Sign, msg(tr("{}: "), pin_name(PinRole::Sign)));
    card.verify(PinRole::Sign, pin, guard);
    return card.applet().read_certificate(card.applet().profile().role(PinRole::Sign).certificate);
}

void require_sign_certificate(OpenCard& card) {
    if (!card.applet().has_sign_certificate())
        throw CliError(ExitCode::Failure, tr("This card has no signing certificate (cards issued to children under 15 have none)."));
}

int export_certificate(const Args& args) {
    args.expect_operands(2, 2);
    static constexpr std::array<std::string_view, 4> which{"auth", "sign", "auth-ca", "sign-ca"};
    const std::string& what = args.operands()[1];
    if (std::find(which.begin(), which.end(), what) == which.end())
        args.usage_error(msg(tr("unknown certificate '{}' (one of: auth, sign, auth-ca, sign-ca)"), what));
    if (args.flag("pem") && args.flag("der")) args.usage_error(tr("--pem and --der exclude each other"));
    const bool der = args.flag("der");
    const auto output = args.value("o");
    if (output && output->empty()) args.usage_error(tr("-o needs a file name"));
    if (args.flag("force") && !output) args.usage_error(tr("--force goes with -o FILE"));
    // Checked before the card is touched (and before a password is asked for).
    if (der && !output && isatty(STDOUT_FILENO) == 1)
        throw CliError(ExitCode::Usage, tr("Refusing to write DER (binary) to the terminal: use -o FILE, redirect the "
                                           "output, or use --pem."));
    // The output file is prepared before the card too (issue 8: no password is spent on a file
    // that cannot be written): an existing file without --force, a directory, a missing or
    // read-only folder fail here. The same rules as `jpki sign` (output_file.hpp).
    std::optional<OutputFile> file;
    if (output)
        file.emplace(*output, args.flag("force"),
                     msg(tr("{} already exists; nothing was written. Use --force to replace it."), *output));

    CardAccess access;
    auto card = access.open(args.value("reader"));
    const card::CardProfile& profile = card->applet().profile();
    Bytes certificate;
    if (what == "auth") {
        certificate = card->applet().read_certificate(profile.role(PinRole::Auth).certificate);
    } else if (what == "auth-ca") {
        certificate = card->applet().read_certificate(profile.role(PinRole::Auth).ca_certificate);
    } else {
        require_sign_certificate(*card);
        certificate = what == "sign" ? read_sign_certificate(*card)
                                     : card->applet().read_certificate(profile.role(PinRole::Sign).ca_certificate);
    }
    card.reset();  // ends a login now, before anything is written

    const std::string text = der ? std::string(certificate.begin(), certificate.end()) : to_pem(certificate);
    if (!output) {
        if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
            throw CliError(ExitCode::Failure, msg(tr("Could not write to standard output: {}"), std::strerror(errno)));
        return 0;
    }
    // The signing certificate carries the holder's name, address, date of birth and sex
    // (JPKI-CARD.md "Certificates"): readable by its owner only. The others hold no personal
    // data and get the ordinary mode.
    const mode_t mode = what == "sign" ? mode_t{0600} : OutputFile::ordinary_mode();
    file->commit(crypto::ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), mode);
    std::fprintf(stderr, "%s\n", msg(tr("Wrote {}."), *output).c_str());
    return 0;
}

// One check's outcome, printed as "  ok  text" / "  FAILED  text" / "  --  text".
enum class Outcome { Ok, Failed, Skipped };

class Report {
public:
    void heading(const std::string& text) { lines_.push_back({std::nullopt, text}); }
    void add(Outcome outcome, const std::string& text) {
        if (outcome == Outcome::Failed) failed_ = true;
        lines_.push_back({outcome, text});
    }
    [[nodiscard]] bool failed() const noexcept { return failed_; }

    void print() const {
        const std::string ok = tr("ok");
        const std::string failed = tr("FAILED");
        const std::string skipped = "--";
        const std::size_t width = std::max({display_width(ok), display_width(failed), display_width(skipped)});
        for (const auto& [outcome, text] : lines_) {
            if (!outcome) {
                std::printf("%s\n", paint(Colour::Bold, text).c_str());
                continue;
            }
            const std::string mark = *outcome == Outcome::Ok       ? paint(Colour::Green, ok)
                                     : *outcome == Outcome::Failed ? paint(Colour::Red, failed)
                                                                   : skipped;
            const std::string& plain = *outcome == Outcome::Ok ? ok : *outcome == Outcome::Failed ? failed : skipped;
            std::printf("  %s%s  %s\n", mark.c_str(), std::string(width - display_width(plain), ' ').c_str(), text.c_str());
        }
    }

private:
    std::vector<std::pair<std::optional<Outcome>, std::string>> lines_;
    bool failed_ = false;
};

void check_validity(Report& report, const crypto::Certificate& certificate, std::chrono::system_clock::time_point now,
                    const char* valid_format, const char* expired_format, const char* not_yet_format) {
    const std::string from = format_date(japan_date(certificate.not_before()));
    const std::string until = format_date(japan_date(certificate.not_after()));
    if (now < certificate.not_before())
        report.add(Outcome::Failed, msg(not_yet_format, from));
    else if (now > certificate.not_after())
        report.add(Outcome::Failed, msg(expired_format, until));
    else
        report.add(Outcome::Ok, msg(valid_format, from, until));
}

// The card's CA certificate (EF 000B / 0002) against the CA files: is it byte for byte the file
// that issued the holder's certificate (or, when none did, any of the files)?
void check_card_ca(Report& report, crypto::Context& context, const Bytes& card_ca_der, const std::vector<CaFile>& cas,
                   const CaFile* issuer) {
    const crypto::Certificate card_ca(context, card_ca_der);
    if (issuer != nullptr) {
        if (card_ca.der() == issuer->certificate.der())
            report.add(Outcome::Ok, msg(tr("the CA certificate on the card is {}"), issuer->path.filename().string()));
        else
            report.add(Outcome::Failed, msg(tr("the CA certificate on the card differs from {}"), issuer->path.filename().string()));
        return;
    }
    for (const auto& ca : cas) {
        if (card_ca.der() == ca.certificate.der()) {
            report.add(Outcome::Ok, msg(tr("the CA certificate on the card is {}"), ca.path.filename().string()));
            return;
        }
    }
    report.add(Outcome::Failed, tr("the CA certificate on the card is none of the CA files"));
}

void verify_certificate(Report& report, crypto::Context& context, const Bytes& der, const std::vector<CaFile>& cas,
                        const Bytes& card_ca_der, std::chrono::system_clock::time_point now) {
    const crypto::Certificate certificate(context, der);
    const CaFile* issuer = find_issuer(cas, certificate);
    if (issuer != nullptr) {
        report.add(Outcome::Ok, msg(tr("issued by {}: the signature verifies"), issuer_text(issuer)));
    } else {
        report.add(Outcome::Failed, msg(tr("not issued by any of the J-LIS CA certificates in {}"), data_paths().ca_dir.string()));
    }
    check_validity(report, certificate, now, tr("valid now: {0} to {1}"), tr("not valid now: expired on {}"),
                   tr("not valid now: valid from {}"));
    if (issuer != nullptr)
        check_validity(report, issuer->certificate, now, tr("the CA certificate is valid now: {0} to {1}"),
                       tr("the CA certificate expired on {}"), tr("the CA certificate is valid from {}"));
    check_card_ca(report, context, card_ca_der, cas, issuer);
}

int verify_card(const Args& args) {
    args.expect_operands(1, 1);
    CardAccess access;
    crypto::Context context;
    const auto auth_cas = load_ca_files(context, PinRole::Auth);
    const auto sign_cas = load_ca_files(context, PinRole::Sign);
    require_ca_files(auth_cas, sign_cas);
    const auto now = std::chrono::system_clock::now();

    auto card = access.open(args.value("reader"));
    const card::CardProfile& profile = card->applet().profile();
    const Bytes auth = card->applet().read_certificate(profile.role(PinRole::Auth).certificate);
    const Bytes auth_ca = card->applet().read_certificate(profile.role(PinRole::Auth).ca_certificate);
    const bool has_sign = card->applet().has_sign_certificate();
    std::optional<Bytes> sign;
    std::optional<Bytes> sign_ca;
    if (has_sign) {
        sign_ca = card->applet().read_certificate(profile.role(PinRole::Sign).ca_certificate);
        if (args.flag("sign")) sign = read_sign_certificate(*card);
    }
    card.reset();  // ends the login (--sign) before the checks and the output

    Report report;
    report.heading(tr("Authentication certificate"));
    verify_certificate(report, context, auth, auth_cas, auth_ca, now);
    report.heading(tr("Signing certificate"));
    if (!has_sign) {
        report.add(Outcome::Skipped, tr("none on this card (cards issued to children under 15 have none)"));
    } else if (sign) {
        verify_certificate(report, context, *sign, sign_cas, *sign_ca, now);
    } else {
        report.add(Outcome::Skipped, tr("not checked: reading it needs the signature password (jpki cert verify --sign)"));
        check_card_ca(report, context, *sign_ca, sign_cas, nullptr);
    }
    report.print();
    std::printf("%s\n", tr("Checked offline: revocation is not checked."));
    if (report.failed()) {
        std::printf("%s\n", paint(Colour::Red, tr("Result: does NOT verify.")).c_str());
        return static_cast<int>(ExitCode::Invalid);
    }
    std::printf("%s\n", paint(Colour::Green, tr("Result: verifies.")).c_str());
    return 0;
}

}  // namespace

int run_cert(const std::vector<std::string>& words) {
    static constexpr std::array<OptionSpec, 7> spec{
        {{"reader", true}, {"pem", false}, {"der", false}, {"o", true}, {"force", false}, {"sign", false}, {"help", false}}};
    const Args args("jpki cert", words, spec);
    if (args.flag("help") || (!args.operands().empty() && args.operands()[0] == "help")) {
        print_help();
        return 0;
    }
    if (args.operands().empty()) args.usage_error(tr("missing subcommand (export or verify)"));
    const std::string& sub = args.operands()[0];
    if (sub == "export") {
        if (args.flag("sign")) args.usage_error(msg(tr("unknown option '{}'"), "--sign"));
        return export_certificate(args);
    }
    if (sub == "verify") {
        if (args.flag("pem") || args.flag("der") || args.value("o") || args.flag("force"))
            args.usage_error(tr("verify takes no --pem, --der, -o or --force"));
        return verify_card(args);
    }
    args.usage_error(msg(tr("unknown subcommand '{}' (export or verify)"), sub));
}

}  // namespace jpki::cli
