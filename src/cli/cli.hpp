// The `jpki` command's shared vocabulary (issue 8): exit codes, the error every subcommand throws
// to end with a message, and the subcommands' entry points. Layer: cli/, above card/, transport/
// and crypto/; never PKCS#11.
#pragma once

#include "cli/args.hpp"

#include <filesystem>
#include <stdexcept>
#include <string>

namespace jpki::cli {

// Exit codes, documented in `jpki --help` and docs/your-card.md and docs/troubleshooting.md. Stable: scripts test them.
enum class ExitCode : int {
    Ok = 0,
    Failure = 1,       // the operation failed (card error, file unreadable, ...)
    Usage = 2,         // bad command line
    NoCard = 3,        // pcscd unreachable, no reader, no card, not a My Number Card
    PinIncorrect = 4,  // wrong PIN; tries remain (the message says how many)
    PinLocked = 5,     // PIN locked, or the last try was not confirmed (nothing sent)
    Attention = 6,     // status/doctor: something needs the holder's action (expiry, tries, set-up);
                       // pss probe: proven, but the answer could not be recorded
    Invalid = 7,       // verify: a certificate chain or a signature does not verify
    Refused = 8,       // setup: a program to change is running, or nothing to change was found;
                       // pss probe: the card refused RSA-PSS
};

// Ends a subcommand: `message` (already translated, one or more lines) goes to stderr, the
// process exits with `code`. Throw it from anywhere below main().
class CliError : public std::runtime_error {
public:
    CliError(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
    [[nodiscard]] ExitCode code() const noexcept { return code_; }

private:
    ExitCode code_;
};

// Where the installed data lives, found relative to the program (bin/jpki -> share/...), so the
// build tree and /usr work alike.
struct DataPaths {
    // share/jpki-pkcs11/jpki-ca: the J-LIS CA certificates, one PEM per file named
    // <auth|sign>_ca_<generation>.pem (auth_ca_2015.pem, sign_ca_2023.pem, ...). The environment
    // variable JPKI_CA_DIR replaces the folder (tests use the test PKI's CAs that way).
    std::filesystem::path ca_dir;
    std::filesystem::path locale_dir;  // share/locale
};
[[nodiscard]] const DataPaths& data_paths();

// The subcommands. Each gets the words after its name (e.g. for `jpki pin change sign`:
// {"change", "sign"}) and returns the exit code; --help is handled by each (help texts in the
// same file as the command).
int run_status(const std::vector<std::string>& words);
int run_pin(const std::vector<std::string>& words);
int run_cert(const std::vector<std::string>& words);
int run_sign(const std::vector<std::string>& words);
int run_verify(const std::vector<std::string>& words);
int run_setup(const std::vector<std::string>& words);
int run_doctor(const std::vector<std::string>& words);
int run_pss(const std::vector<std::string>& words);

}  // namespace jpki::cli
