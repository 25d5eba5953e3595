// `jpki sign FILE` and `jpki verify FILE FILE.p7s` (issue 8): detached CMS (PKCS#7) signatures
// made by OpenSSL's CMS code with the card as the signer (crypto/cms.hpp: the private-key
// operation is a callback, here JpkiApplet::sign, which pads the DigestInfo itself), and checked
// offline against the J-LIS CA certificates (data_paths().ca_dir, or JPKI_CA_DIR).
#include "card/profile.hpp"
#include "cli/card_access.hpp"
#include "cli/cli.hpp"
#include "cli/i18n.hpp"
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

struct CloseFile {
    void operator()(std::FILE* file) const noexcept { std::fclose(file); }
};

Bytes read_file(const fs::path& path) {
    const std::unique_ptr<std::FILE, CloseFile> file(std::fopen(path.c_str(), "rb"));
    if (!file) throw CliError(ExitCode::Failure, msg(tr("Cannot read {}: {}"), path.string(), std::strerror(errno)));
    Bytes content;
    std::array<std::uint8_t, 65536> buffer{};
    for (;;) {
        const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get());
        content.insert(content.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
        if (n < buffer.size()) break;
    }
    if (std::ferror(file.get()) != 0)
        throw CliError(ExitCode::Failure, msg(tr("Cannot read {}: {}"), path.string(), std::strerror(errno)));
    return content;
}

// A temporary file next to the output, removed unless it became the output.
class TempFile {
public:
    explicit TempFile(const fs::path& output) {
        const fs::path dir = output.has_parent_path() ? output.parent_path() : fs::path(".");
        std::string name = (dir / ("." + output.filename().string() + ".XXXXXX")).string();
        fd_ = mkstemp(name.data());
        if (fd_ < 0) throw write_error(output);
        path_ = name;
    }
    ~TempFile() {
        if (fd_ >= 0) close(fd_);
        if (!path_.empty()) unlink(path_.c_str());
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    TempFile(TempFile&&) = delete;
    TempFile& operator=(TempFile&&) = delete;

    static CliError write_error(const fs::path& output) {
        return {ExitCode::Failure, msg(tr("Cannot write {}: {}"), output.string(), std::strerror(errno))};
    }

    // Writes `data`, then makes it `output`: rename() when replacing is allowed, else link(),
    // which fails when `output` appeared meanwhile. Readers never see a half-written file.
    void commit(const fs::path& output, const Bytes& data, bool replace) {
        std::size_t done = 0;
        while (done < data.size()) {
            const ssize_t n = write(fd_, data.data() + done, data.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) throw write_error(output);
            done += static_cast<std::size_t>(n);
        }
        if (fchmod(fd_, 0644) != 0 || fsync(fd_) != 0 || close(fd_) != 0) {
            fd_ = -1;
            throw write_error(output);
        }
        fd_ = -1;
        if (replace) {
            if (rename(path_.c_str(), output.c_str()) != 0) throw write_error(output);
            path_.clear();
            return;
        }
        if (link(path_.c_str(), output.c_str()) != 0) {
            if (errno == EEXIST) throw exists(output);
            throw write_error(output);
        }
    }

    static CliError exists(const fs::path& output) {
        return {ExitCode::Failure, msg(tr("{} already exists; nothing was signed. Use --force to replace it."), output.string())};
    }

private:
    int fd_ = -1;
    std::string path_;
};

std::string certificate_name(card::PinRole role) {
    return role == card::PinRole::Auth ? tr("authentication certificate") : tr("signing certificate");
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

// The CA certificates of ca_dir: every *.pem, with its file name (auth_ca_*, sign_ca_* say which
// kind of user certificate each one issues).
struct TrustedCa {
    std::string file_name;
    Bytes der;
};

std::vector<TrustedCa> load_cas(const fs::path& dir) {
    std::vector<TrustedCa> cas;
    std::error_code error;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, error))
        if (entry.path().extension() == ".pem") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
        const Bytes pem = read_file(file);
        for (Bytes& der : crypto::certificates_from_pem(std::string(pem.begin(), pem.end())))
            cas.push_back({file.filename().string(), std::move(der)});
    }
    if (cas.empty())
        throw CliError(ExitCode::Failure, msg(tr("No CA certificates (*.pem) found in {}."), dir.string()));
    return cas;
}

std::string utc_text(std::chrono::system_clock::time_point when) {
    const std::time_t t = std::chrono::system_clock::to_time_t(when);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::array<char, 32> text{};
    const std::size_t n = std::strftime(text.data(), text.size(), "%Y-%m-%d %H:%M:%S UTC", &tm);
    return {text.data(), n};
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
    const fs::path output = args.value("o").value_or(input.string() + ".p7s");
    const bool replace = args.flag("force");
    // Before the card and the PIN: nothing is asked for a signature that could not be written.
    if (!replace && fs::exists(fs::symlink_status(output))) throw TempFile::exists(output);
    const Bytes content = read_file(input);

    CardAccess access;
    const auto card = access.open(args.value("reader"));
    if (role == card::PinRole::Sign && !card->applet().has_sign_certificate())
        throw CliError(ExitCode::Failure, tr("This card has no signing certificate (cards issued to children under 15 "
                                             "have none). Use --key auth to sign with the authentication key."));
    std::optional<Bytes> certificate_der;
    // The authentication certificate is free to read; the signing one only after the password.
    if (role == card::PinRole::Auth) certificate_der = card->applet().read_certificate(card::ef::auth_certificate);
    // Refused before the PIN is typed at 1 try left or locked; checked again right before the VERIFY.
    final_try_guard(role)(card->applet().tries_left(role));
    const SecureBytes pin = read_pin(role, msg(tr("{}: "), pin_name(role)));

    crypto::Context context;
    std::string subject;
    Bytes p7s;
    // One transaction: nothing of another program's comes between the VERIFY and the SIGN. The
    // PIN goes out once (a reset in between ends in SecurityStateLost, never in a second VERIFY).
    card->applet().in_transaction([&] {
        card->verify(role, pin, final_try_guard(role));
        if (!certificate_der) certificate_der = card->applet().read_certificate(card::ef::sign_certificate);
        const crypto::Certificate certificate(context, *certificate_der);
        subject = certificate.subject_text();
        p7s = crypto::cms_sign_detached(context, content, certificate, [&](crypto::ByteView digest_info) {
            return card->applet().sign(role, digest_info);
        });
    });

    TempFile temp(output);
    temp.commit(output, p7s, replace);
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
    const Bytes content = read_file(content_path);
    const Bytes signature = read_file(signature_path);
    const fs::path ca_dir = data_paths().ca_dir;
    const std::vector<TrustedCa> cas = load_cas(ca_dir);
    std::vector<Bytes> anchors;
    anchors.reserve(cas.size());
    for (const auto& ca : cas) anchors.push_back(ca.der);

    crypto::Context context;
    const auto result = crypto::cms_verify_detached(context, content, signature, anchors);
    using Outcome = crypto::CmsVerification::Outcome;
    if (result.outcome == Outcome::Corrupt || !result.signer_certificate)
        throw CliError(ExitCode::Invalid, msg(tr("Not valid: {} is not a readable CMS signature (damaged, or not a "
                                                 "detached signature in DER form)."),
                                              signature_path.string()));

    const crypto::Certificate signer(context, *result.signer_certificate);
    std::printf("%s\n", msg(tr("Signer: {}"), signer.subject_text()).c_str());
    if (result.signing_time)
        std::printf("%s\n", msg(tr("Signed at: {} (as stated by the signer)"), utc_text(*result.signing_time)).c_str());
    std::string kind = tr("not issued by a J-LIS CA known here");
    for (const auto& ca : cas) {
        if (!signer.issued_by(crypto::Certificate(context, ca.der))) continue;
        if (ca.file_name.starts_with("auth"))
            kind = certificate_name(card::PinRole::Auth);
        else if (ca.file_name.starts_with("sign"))
            kind = certificate_name(card::PinRole::Sign);
        else
            kind = msg(tr("issued by {}"), ca.file_name);
        break;
    }
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
                                                  ca_dir.string()));
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
