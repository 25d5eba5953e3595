// `jpki sign FILE` and `jpki verify FILE FILE.p7s` (issue 8): detached CMS (PKCS#7) signatures
// made by OpenSSL's CMS code with the card as the signer (crypto/cms.hpp: the private-key
// operation is a callback, here JpkiApplet::sign, which pads the DigestInfo itself), and checked
// offline against the J-LIS CA certificates (data_paths().ca_dir, or JPKI_CA_DIR).
#include "card/profile.hpp"
#include "cli/card_access.hpp"
#include "cli/certificates.hpp"
#include "cli/cli.hpp"
#include "cli/i18n.hpp"
#include "cli/output_file.hpp"
#include "crypto/certificate.hpp"
#include "crypto/cms.hpp"
#include "crypto/context.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jpki::cli {
namespace {

namespace fs = std::filesystem;

constexpr std::array<OptionSpec, 6> sign_options{
    {{"key", true}, {"o", true}, {"reader", true}, {"force", false}, {"help", false}, {"h", false}}};
constexpr std::array<OptionSpec, 2> verify_options{{{"help", false}, {"h", false}}};
constexpr std::array<std::string_view, 2> key_choices{"auth", "sign"};

// An open file descriptor, closed on scope exit.
class Fd {
public:
    explicit Fd(int fd) noexcept : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&&) = delete;
    Fd& operator=(Fd&&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }

private:
    int fd_;
};

CliError read_error(const fs::path& path, int error) {
    return {ExitCode::Failure, msg(tr("Cannot read {}: {}"), path.string(), std::strerror(error))};
}

// Opens a file to sign or verify and checks it is a regular file: a device (/dev/zero) or a pipe
// (/dev/stdin) would be read for ever or only once, and the content is read twice (signature and
// self-check). O_NONBLOCK: opening a FIFO must not wait for a writer. `not_regular` is the
// message (with {} for the name) for anything else.
std::unique_ptr<Fd> open_regular(const fs::path& path, const char* not_regular, struct stat& info) {
    auto fd = std::make_unique<Fd>(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (fd->get() < 0) throw read_error(path, errno);
    if (fstat(fd->get(), &info) != 0) throw read_error(path, errno);
    if (!S_ISREG(info.st_mode)) throw CliError(ExitCode::Failure, msg(not_regular, path.string()));
    return fd;
}

// A .p7s in memory: a JPKI signature is a few kilobytes (two certificates at most); anything
// beyond 1 MiB is not one, and is not read.
constexpr off_t max_signature_size = off_t{1024} * 1024;

Bytes read_signature(const fs::path& path) {
    struct stat info {};
    const auto fd = open_regular(path, tr("{} is not a regular file (a folder, a device or a pipe): verify a regular file."), info);
    if (info.st_size > max_signature_size)
        throw CliError(ExitCode::Invalid, msg(tr("Not valid: {} is not a readable CMS signature (damaged, or not a "
                                                 "detached signature in DER form)."),
                                              path.string()));
    Bytes content(static_cast<std::size_t>(info.st_size));
    std::size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = read(fd->get(), content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw read_error(path, errno);
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    content.resize(done);
    return content;
}

// Issue 8: an expired (or not yet valid) certificate must not make a signature nobody can
// verify. Exit code 1 (a failure: nothing was signed), not 6 (attention), which means "done, but
// look". Dates are Japan dates, as in `jpki status`.
void refuse_outside_validity(const crypto::Certificate& certificate, card::PinRole role,
                             std::chrono::system_clock::time_point now) {
    const std::string name = certificate_name(role);
    if (now > certificate.not_after())
        throw CliError(ExitCode::Failure,
                       msg(tr("Your {0} expired on {1}: nothing was signed. Renew it at your city office (bring the "
                              "card and an identity document)."),
                           name, format_date(japan_date(certificate.not_after()))));
    if (now < certificate.not_before())
        throw CliError(ExitCode::Failure, msg(tr("Your {0} is valid only from {1}: nothing was signed."), name,
                                              format_date(japan_date(certificate.not_before()))));
}

void print_sign_help() {
    std::printf("%s\n", tr("Usage: jpki sign FILE [--key sign|auth] [-o FILE.p7s] [--force] [--reader NAME]\n"
                           "\n"
                           "Signs FILE with the card: a detached CMS (PKCS#7) signature, SHA-256, with your\n"
                           "certificate included, written in DER form to FILE.p7s.\n"
                           "\n"
                           "Options:\n"
                           "  --key sign     the signing certificate's key and the signature password (default;\n"
                           "                 for documents)\n"
                           "  --key auth     the authentication certificate's key and the 4-digit PIN\n"
                           "  -o FILE.p7s    where to write the signature (default: FILE.p7s)\n"
                           "  --force        replace the output file if it exists\n"
                           "  --reader NAME  the reader holding the card\n"
                           "\n"
                           "FILE must be a regular file. An expired or not yet valid certificate is refused\n"
                           "(exit code 1): nothing is signed.\n"
                           "Check a signature with 'jpki verify FILE FILE.p7s'."));
}

void print_verify_help() {
    std::printf("%s\n", tr("Usage: jpki verify FILE FILE.p7s\n"
                           "\n"
                           "Checks a detached CMS signature of FILE against the J-LIS CA certificates shipped\n"
                           "with jpki (the folder JPKI_CA_DIR replaces them). Shows the signer, the signing time\n"
                           "and the certificate used. Offline: revocation is not checked. No card is needed.\n"
                           "Exit code 0: valid; 7: not valid."));
}

bool wants_help(const Args& args) { return args.flag("help") || args.flag("h"); }

// The signer's stated time in Japan time (UTC+9, no daylight saving), like every date jpki shows
// (certificates.hpp): "2026-11-30 20:48:35 JST", "2026年11月30日 20:48:35 日本時間".
std::string japan_time_text(std::chrono::system_clock::time_point when) {
    const auto japan = std::chrono::floor<std::chrono::seconds>(when + std::chrono::hours(9));
    const auto day = std::chrono::floor<std::chrono::days>(japan);
    const std::chrono::hh_mm_ss time(japan - day);
    const std::string clock = fmt::format("{:02}:{:02}:{:02}", time.hours().count(), time.minutes().count(),
                                          time.seconds().count());
    if (japanese()) return fmt::format("{} {} 日本時間", format_date(JapanDate{day}), clock);
    return fmt::format("{} {} JST", format_date(JapanDate{day}), clock);
}

}  // namespace

int run_sign(const std::vector<std::string>& words) {
    const Args args("jpki sign", words, sign_options);
    if (wants_help(args)) {
        print_sign_help();
        return 0;
    }
    args.expect_operands(1, 1);
    const card::PinRole role =
        args.choice("key", key_choices, "sign") == "auth" ? card::PinRole::Auth : card::PinRole::Sign;
    const fs::path input = args.operands()[0];
    if (args.value("o") && args.value("o")->empty()) args.usage_error(tr("-o needs a file name"));
    const fs::path output = args.value("o").value_or(input.string() + ".p7s");
    const bool replace = args.flag("force");

    // Before the card and the PIN (issue 8: a PIN try must not be spent on a signature that
    // cannot be made or written): the input is open and regular, the output is not the input,
    // and the temporary output file exists in the target folder.
    struct stat input_info {};
    const auto content = open_regular(input, tr("{} is not a regular file (a folder, a device or a pipe): sign a regular file."), input_info);
    struct stat output_info {};
    if (stat(output.c_str(), &output_info) == 0 && output_info.st_dev == input_info.st_dev &&
        output_info.st_ino == input_info.st_ino)
        throw CliError(ExitCode::Failure,
                       msg(tr("{} is the file to sign: the signature needs another file (-o FILE.p7s)."), output.string()));
    OutputFile out(output, replace,
                   msg(tr("{} already exists; nothing was signed. Use --force to replace it."), output.string()));

    CardAccess access;
    const auto card = access.open(args.value("reader"));
    if (role == card::PinRole::Sign && !card->applet().has_sign_certificate())
        throw CliError(ExitCode::Failure, tr("This card has no signing certificate (cards issued to children under 15 "
                                             "have none). Use --key auth to sign with the authentication key."));
    crypto::Context context;
    std::optional<crypto::Certificate> certificate;
    // The authentication certificate is free to read: checked before the PIN. The signing one
    // needs the password: checked right after it is read, before the COMPUTE DIGITAL SIGNATURE.
    if (role == card::PinRole::Auth) {
        certificate.emplace(context, card->applet().read_certificate(card->applet().profile().role(role).certificate));
        refuse_outside_validity(*certificate, role, std::chrono::system_clock::now());
    }
    // Refused before the PIN is typed at 1 try left or locked; checked again right before the VERIFY.
    final_try_guard(role)(card->applet().tries_left(role));
    const SecureBytes pin = read_pin(role, msg(tr("{}: "), pin_name(role)));

    std::string subject;
    Bytes p7s;
    // One transaction: nothing of another program's comes between the VERIFY and the SIGN. The
    // PIN goes out once (a reset in between ends in SecurityStateLost, never in a second VERIFY).
    card->applet().in_transaction([&] {
        card->verify(role, pin, final_try_guard(role));
        if (!certificate) {
            certificate.emplace(context, card->applet().read_certificate(card->applet().profile().role(role).certificate));
            refuse_outside_validity(*certificate, role, std::chrono::system_clock::now());
        }
        subject = certificate->subject_text();
        p7s = crypto::cms_sign_detached(context, content->get(), *certificate, [&](crypto::ByteView digest_info) {
            return card->applet().sign(role, digest_info);
        });
    });

    // A signature is meant to be sent: readable like any new file (it holds the signing
    // certificate, which the recipient needs).
    out.commit(p7s, OutputFile::ordinary_mode());
    std::printf("%s\n", msg(tr("Signed {0} with your {1}."), input.string(), certificate_name(role)).c_str());
    std::printf("%s\n", msg(tr("Signer: {}"), subject).c_str());
    std::printf("%s\n", msg(tr("Signature: {} (detached CMS, SHA-256)"), output.string()).c_str());
    if (role == card::PinRole::Sign && std::any_of(pin.view().begin(), pin.view().end(),
                                                   [](std::uint8_t c) { return c >= 'a' && c <= 'z'; }))
        std::printf("%s\n", tr("Lower-case letters count as capitals: the card took your entry in capital letters."));
    return 0;
}

int run_verify(const std::vector<std::string>& words) {
    const Args args("jpki verify", words, verify_options);
    if (wants_help(args)) {
        print_verify_help();
        return 0;
    }
    args.expect_operands(2, 2);
    const fs::path content_path = args.operands()[0];
    const fs::path signature_path = args.operands()[1];
    struct stat content_info {};
    const auto content = open_regular(
        content_path, tr("{} is not a regular file (a folder, a device or a pipe): verify a regular file."), content_info);
    const Bytes signature = read_signature(signature_path);
    crypto::Context context;
    const std::vector<CaFile> auth_cas = load_ca_files(context, card::PinRole::Auth);
    const std::vector<CaFile> sign_cas = load_ca_files(context, card::PinRole::Sign);
    require_ca_files(auth_cas, sign_cas);
    std::vector<Bytes> anchors;
    for (const auto* cas : {&auth_cas, &sign_cas})
        for (const auto& ca : *cas) anchors.push_back(ca.certificate.der());

    const auto result = crypto::cms_verify_detached(context, content->get(), signature, anchors);
    using Outcome = crypto::CmsVerification::Outcome;
    if (result.outcome == Outcome::Corrupt || !result.signer_certificate)
        throw CliError(ExitCode::Invalid, msg(tr("Not valid: {} is not a readable CMS signature (damaged, or not a "
                                                 "detached signature in DER form)."),
                                              signature_path.string()));

    const crypto::Certificate signer(context, *result.signer_certificate);
    std::printf("%s\n", msg(tr("Signer: {}"), signer.subject_text()).c_str());
    if (result.signing_time)
        std::printf("%s\n",
                    msg(tr("Signed at: {} (as stated by the signer)"), japan_time_text(*result.signing_time)).c_str());
    std::string kind = tr("not issued by a J-LIS CA known here");
    if (find_issuer(auth_cas, signer) != nullptr)
        kind = certificate_name(card::PinRole::Auth);
    else if (find_issuer(sign_cas, signer) != nullptr)
        kind = certificate_name(card::PinRole::Sign);
    std::printf("%s\n", msg(tr("Certificate: {}"), kind).c_str());

    using Problem = crypto::CmsVerification::CertificateProblem;
    switch (result.outcome) {
    case Outcome::Valid:
        break;
    case Outcome::ContentMismatch:
        throw CliError(ExitCode::Invalid, msg(tr("Not valid: {} does not match the signature: it was changed after "
                                                 "signing, or it is another file."),
                                              content_path.string()));
    case Outcome::CertificateInvalid:
    case Outcome::Corrupt:
        switch (result.certificate_problem) {
        case Problem::UnknownIssuer:
            throw CliError(ExitCode::Invalid, msg(tr("Not valid: the signer's certificate was not issued by a J-LIS "
                                                     "certification authority (CA certificates from {})."),
                                                  data_paths().ca_dir.string()));
        case Problem::Expired:
            throw CliError(ExitCode::Invalid, tr("Not valid: the signer's certificate has expired."));
        case Problem::NotYetValid:
            throw CliError(ExitCode::Invalid, tr("Not valid: the signer's certificate is not valid yet."));
        case Problem::None:
        case Problem::Other:
            break;
        }
        throw CliError(ExitCode::Invalid,
                       msg(tr("Not valid: the signer's certificate does not verify ({})."), result.detail));
    }
    std::printf("%s\n", tr("Signature: valid"));
    std::printf("%s\n", tr("Checked offline: whether the certificate has been revoked (card lost, address or name "
                           "changed, renewed) was not checked."));
    return 0;
}

}  // namespace jpki::cli
