// `jpki`: the My Number Card holder's command (issue 8; docs/design.md §6). Dispatches to the
// subcommands (one file each) and turns whatever they throw into a message and an exit code.
#include "cli/card_access.hpp"
#include "cli/cli.hpp"
#include "cli/i18n.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace jpki::cli {

namespace {

struct Command {
    std::string_view name;
    int (*run)(const std::vector<std::string>&);
    const char* summary;  // English, marked by noop_tr(); translated when shown
};

const std::array<Command, 8> commands = {{
    {"status", run_status, noop_tr("Readers, cards, certificates (days left, renewal) and PIN tries left")},
    {"pin", run_pin, noop_tr("Change a PIN, or verify one (the deliberate way to spend a last try)")},
    {"cert", run_cert, noop_tr("Export the certificates, or verify them against the J-LIS CAs (offline)")},
    {"sign", run_sign, noop_tr("Sign a file with the card (detached CMS signature, .p7s)")},
    {"verify", run_verify, noop_tr("Verify a file's detached CMS signature")},
    {"setup", run_setup, noop_tr("Add the module to Firefox, Thunderbird, Chrome and LibreOffice")},
    {"doctor", run_doctor, noop_tr("Check pcscd, readers, the card, the module and the programs' set-up")},
    {"pss", run_pss, noop_tr("Test whether the card signs RSA-PSS (TLS 1.3 logins) and remember the answer")},
}};

void print_help() {
    std::printf("%s\n\n", tr("Usage: jpki COMMAND [OPTIONS]\n"
                             "Your My Number Card (JPKI): certificates, PINs, signing and set-up."));
    std::printf("%s\n", tr("Commands:"));
    for (const auto& c : commands) {
        std::printf("  %-8s %s\n", std::string(c.name).c_str(), tr(c.summary));
    }
    std::printf("\n%s\n\n", tr("Run 'jpki COMMAND --help' for a command's options."));
    std::printf("%s\n", tr("Exit codes:\n"
                           "  0  success\n"
                           "  1  the operation failed\n"
                           "  2  bad command line, or a PIN of the wrong format (nothing sent)\n"
                           "  3  no pcscd, no reader, or no My Number Card\n"
                           "  4  wrong PIN (tries remain)\n"
                           "  5  PIN locked, or the last try was not confirmed\n"
                           "  6  something needs your attention (expiry, tries left, set-up)\n"
                           "  7  a certificate or signature does not verify\n"
                           "  8  refused: set-up (the program is running, or nothing found), or\n"
                           "     RSA-PSS by the card (pss probe)"));
    std::printf("\n%s\n", tr("PINs are read from the terminal without echo, or from standard input when it is not a terminal."));
}

int run(const std::vector<std::string>& words) {
    if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
        if (words.size() >= 2 && words[0] == "help") return run({words[1], "--help"});
        print_help();
        return words.empty() ? static_cast<int>(ExitCode::Usage) : 0;
    }
    if (words[0] == "--version" || words[0] == "-V") {
        std::printf("jpki %s\n", JPKI_VERSION);
        return 0;
    }
    for (const auto& c : commands)
        if (words[0] == c.name) return c.run(std::vector<std::string>(words.begin() + 1, words.end()));
    throw CliError(ExitCode::Usage, msg(tr("jpki: unknown command '{}'\nTry 'jpki --help'."), words[0]));
}

}  // namespace

const DataPaths& data_paths() {
    static const DataPaths paths = [] {
        // bin/jpki -> share/..., the same in the build tree and in /usr.
        std::error_code ignored;
        std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ignored);
        const std::filesystem::path share = exe.parent_path().parent_path() / "share";
        DataPaths found{share / "jpki-pkcs11" / "jpki-ca", share / "locale"};
        // Another CA hierarchy (the test PKI's, a future generation's) in place of the shipped one.
        if (const char* ca_dir = std::getenv("JPKI_CA_DIR"); ca_dir != nullptr && *ca_dir != '\0') found.ca_dir = ca_dir;
        return found;
    }();
    return paths;
}

}  // namespace jpki::cli

int main(int argc, char** argv) {
    using namespace jpki::cli;
    init_messages();
    const std::vector<std::string> words(argv + 1, argv + argc);
    int code = 0;
    try {
        code = run(words);
    } catch (...) {
        const auto [failure_code, message] = describe_failure(std::current_exception());
        std::fflush(stdout);
        std::fprintf(stderr, "%s\n", message.c_str());
        code = static_cast<int>(failure_code);
    }
    // Output that did not reach its file (a full disk, a closed pipe) is a failure, not success.
    if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
        std::fprintf(stderr, "%s\n", msg(tr("Could not write the output: {}"), std::strerror(errno)).c_str());
        if (code == 0 || code == static_cast<int>(ExitCode::Attention)) code = static_cast<int>(ExitCode::Failure);
    }
    return code;
}
