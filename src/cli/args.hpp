// Command-line words -> options and operands, for one subcommand (issue 8). Options are
// `--name`, `--name VALUE` or `--name=VALUE`, in any position; `--` ends them. An unknown option
// or a missing value is a usage error (CliError ExitCode::Usage, translated message).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace jpki::cli {

struct OptionSpec {
    std::string_view name;  // without the dashes: "json", "reader", "o"
    bool takes_value = false;
};

class Args {
public:
    // `command` names the subcommand in messages ("jpki pin change"). Single-letter names take
    // one dash ("-o FILE"). Throws CliError(Usage).
    Args(std::string command, const std::vector<std::string>& words, std::span<const OptionSpec> spec);

    [[nodiscard]] bool flag(std::string_view name) const;
    [[nodiscard]] std::optional<std::string> value(std::string_view name) const;
    [[nodiscard]] const std::vector<std::string>& operands() const noexcept { return operands_; }
    [[nodiscard]] const std::string& command() const noexcept { return command_; }

    // CliError(Usage) unless there are between min and max operands.
    void expect_operands(std::size_t min, std::size_t max) const;
    // The value of `name` if given, which must be one of `allowed`; else fallback.
    [[nodiscard]] std::string choice(std::string_view name, std::span<const std::string_view> allowed,
                                     std::string_view fallback) const;
    // CliError(Usage): "<command>: <what>\nTry '<command> --help'."
    [[noreturn]] void usage_error(const std::string& what) const;

private:
    std::string command_;
    std::vector<std::pair<std::string, std::string>> options_;  // name, value ("" for flags)
    std::vector<std::string> operands_;
};

}  // namespace jpki::cli
