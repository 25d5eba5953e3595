// `jpki status` (issue 8). Placeholder until its helper lands.
#include "cli/cli.hpp"
#include "cli/i18n.hpp"

namespace jpki::cli {

int run_status(const std::vector<std::string>& words) {
    (void)words;
    throw CliError(ExitCode::Failure, "jpki status: not implemented yet");
}

}  // namespace jpki::cli
