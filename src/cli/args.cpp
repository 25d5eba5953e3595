// Command-line parsing for one subcommand (args.hpp).
#include "cli/args.hpp"

#include "cli/cli.hpp"
#include "cli/i18n.hpp"

#include <algorithm>

namespace jpki::cli {

Args::Args(std::string command, const std::vector<std::string>& words, std::span<const OptionSpec> spec)
    : command_(std::move(command)) {
    bool options_ended = false;
    for (std::size_t i = 0; i < words.size(); ++i) {
        const std::string& word = words[i];
        if (options_ended || word == "-" || word.size() < 2 || word[0] != '-') {
            operands_.push_back(word);
            continue;
        }
        if (word == "--") {
            options_ended = true;
            continue;
        }
        // -h is --help in every subcommand that has --help.
        if (word == "-h" && std::any_of(spec.begin(), spec.end(), [](const OptionSpec& s) { return s.name == "help"; })) {
            options_.emplace_back("help", "");
            continue;
        }
        std::string name = word.substr(word[1] == '-' ? 2 : 1);
        std::optional<std::string> inline_value;
        if (const auto eq = name.find('='); eq != std::string::npos) {
            inline_value = name.substr(eq + 1);
            name.resize(eq);
        }
        const bool long_form = word[1] == '-';
        const auto it = std::find_if(spec.begin(), spec.end(), [&](const OptionSpec& s) {
            return s.name == name && (long_form ? s.name.size() > 1 : s.name.size() == 1);
        });
        if (it == spec.end()) usage_error(msg(tr("unknown option '{}'"), word));
        if (!it->takes_value) {
            if (inline_value) usage_error(msg(tr("option '{}' takes no value"), word));
            options_.emplace_back(name, "");
            continue;
        }
        if (inline_value) {
            options_.emplace_back(name, *inline_value);
        } else if (i + 1 < words.size()) {
            options_.emplace_back(name, words[++i]);
        } else {
            usage_error(msg(tr("option '{}' needs a value"), word));
        }
    }
}

bool Args::flag(std::string_view name) const {
    return std::any_of(options_.begin(), options_.end(), [&](const auto& o) { return o.first == name; });
}

std::optional<std::string> Args::value(std::string_view name) const {
    std::optional<std::string> last;  // the last one given wins, as in most programs
    for (const auto& [n, v] : options_)
        if (n == name) last = v;
    return last;
}

void Args::expect_operands(std::size_t min, std::size_t max) const {
    if (operands_.size() < min) usage_error(tr("missing operand"));
    if (operands_.size() > max) usage_error(msg(tr("unexpected operand '{}'"), operands_[max]));
}

std::string Args::choice(std::string_view name, std::span<const std::string_view> allowed,
                         std::string_view fallback) const {
    const auto given = value(name);
    if (!given) return std::string(fallback);
    if (std::find(allowed.begin(), allowed.end(), *given) == allowed.end()) {
        std::string list;
        for (const auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        usage_error(msg(tr("invalid value '{}' for --{} (one of: {})"), *given, name, list));
    }
    return *given;
}

void Args::usage_error(const std::string& what) const {
    throw CliError(ExitCode::Usage, msg(tr("{}: {}\nTry '{} --help'."), command_, what, command_));
}

}  // namespace jpki::cli
