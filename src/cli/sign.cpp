// `jpki sign` (issue 8). Placeholder until its helper lands.
#include "cli/cli.hpp"
#include "cli/i18n.hpp"

namespace jpki::cli {

int run_sign(const std::vector<std::string>& words) {
    (void)words;
    throw CliError(ExitCode::Failure, "jpki sign: not implemented yet");
}

int run_verify(const std::vector<std::string>& words) {
    (void)words;
    throw CliError(ExitCode::Failure, "jpki verify: not implemented yet");
}
}  // namespace jpki::cli
