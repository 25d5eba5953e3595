#include "token/config.hpp"

#include "token/errors.hpp"

#include <jpki/slot_defaults.hpp>

#include <unistd.h>  // environ

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace jpki::token {
namespace {

constexpr std::string_view kPrefix = "jpki_pkcs11_";
constexpr std::array<std::string_view, 5> kKeys = {"slots", "allow_final_try", "always_auth",
                                                   "pss", "log"};

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    const auto last = text.find_last_not_of(" \t\r\n");
    return std::string(text.substr(first, last - first + 1));
}

std::string upper(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return text;
}

std::string canonical_key(std::string_view key) {
    std::string name = lower(trim(key));
    if (name.starts_with(kPrefix)) name.erase(0, kPrefix.size());
    return name;
}

// One setting as written, and where: a bad one is reported with its place (issue 7: "the bad
// key and its file").
struct Item {
    std::string value;
    std::string where;  // "/etc/jpki-pkcs11.conf line 3", "environment variable JPKI_PKCS11_LOG", ...
};
using Items = std::map<std::string, Item>;

// Text from a file or the environment, shown in one log line: control bytes become '?'.
std::string quoted(std::string_view text) {
    std::string out = "'";
    for (const char c : text) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7F ? '?' : c);
    return out + "'";
}

std::string accepted_keys() {
    std::string list;
    for (const auto key : kKeys) list.append(list.empty() ? "" : ", ").append(key);
    return list + " (each also as JPKI_PKCS11_<KEY>)";
}

[[noreturn]] void bad_setting(const std::string& where, const std::string& what, const std::string& accepted) {
    throw Error(CKR_ARGUMENTS_BAD, where + ": " + what + "; accepted: " + accepted);
}

// `key = value` per line; `#` starts a comment. `where` names the source; `numbered` adds
// " line N" (files only: pReserved's items are not lines to the user).
Items parse_file(std::string_view text, const std::string& where, bool numbered = true) {
    Items items;
    std::istringstream lines{std::string(text)};
    std::string line;
    std::map<std::string, std::string> first_place;  // a key written twice in one source is a mistake
    for (int number = 1; std::getline(lines, line); ++number) {
        // Editors on other systems start UTF-8 files with a byte-order mark: not part of a key.
        if (number == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
        if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
        if (trim(line).empty()) continue;
        const std::string place = numbered ? where + " line " + std::to_string(number) : where;
        const auto equals = line.find('=');
        if (equals == std::string::npos)
            bad_setting(place, quoted(trim(line)) + " is not key = value", "key = value with key one of " + accepted_keys());
        const std::string key = canonical_key(line.substr(0, equals));
        if (const auto seen = first_place.find(key); seen != first_place.end())
            bad_setting(place, quoted(key) + " is set twice (first at " + seen->second + ")", "each key once");
        first_place.emplace(key, place);
        items[key] = Item{trim(line.substr(equals + 1)), place};
    }
    return items;
}

// p11-kit passes x-init-reserved as one line: items separated by ';' or white space.
Items parse_reserved(std::string_view text) {
    // Items are separated by ';' or white space, so `pss = on` (the files' spelling) is first
    // made `pss=on`: white space around '=' belongs to the item, not between items.
    std::string lines;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool blank = text[i] == ' ' || text[i] == '\t';
        if (blank) {
            const auto next = text.find_first_not_of(" \t", i);
            const bool before_equals = next != std::string_view::npos && text[next] == '=';
            const bool after_equals = !lines.empty() && lines.back() == '=';
            if (before_equals || after_equals) continue;
        }
        lines.push_back(text[i]);
    }
    std::replace_if(lines.begin(), lines.end(), [](char c) { return c == ';' || c == ' ' || c == '\t'; }, '\n');
    return parse_file(lines, "C_Initialize pReserved (p11-kit x-init-reserved)", false);
}

bool parse_bool(const std::string& key, const Item& item) {
    const std::string v = lower(item.value);
    if (v == "1" || v == "yes" || v == "true" || v == "on") return true;
    if (v == "0" || v == "no" || v == "false" || v == "off") return false;
    bad_setting(item.where, "bad value " + quoted(item.value) + " for " + key, "1, yes, true, on, 0, no, false, off");
}

template <typename Enum, std::size_t N>
Enum parse_choice(const std::string& key, const Item& item,
                  const std::array<std::pair<std::string_view, Enum>, N>& choices) {
    const std::string v = lower(item.value);
    std::string names;
    for (const auto& [name, choice] : choices) {
        if (v == name) return choice;
        names.append(names.empty() ? "" : ", ").append(name);
    }
    bad_setting(item.where, "bad value " + quoted(item.value) + " for " + key, names);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return {};
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

SlotProfile default_profile_for(std::string_view process_name) {
    // The table is shared with `jpki doctor` (include/jpki/slot_defaults.hpp): browsers see the
    // auth slot, LibreOffice the sign slot, everything else (Thunderbird included) both.
    switch (default_slots_for(lower(process_name))) {
    case DefaultSlots::Auth: return SlotProfile::Auth;
    case DefaultSlots::Sign: return SlotProfile::Sign;
    case DefaultSlots::Both: break;
    }
    return SlotProfile::Both;
}

ConfigSources system_config_sources(std::string_view init_reserved) {
    ConfigSources sources;
    sources.init_reserved = std::string(init_reserved);
    // Every variable that looks like ours, so that a misspelt or lower-case one (JPKI_PKCS11_SLOT,
    // jpki_pkcs11_slots) is an error, not silently ignored (resolve_config names it).
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string_view text(*entry);
        const auto equals = text.find('=');
        if (equals == std::string_view::npos) continue;
        const std::string name(text.substr(0, equals));
        if (!upper(name).starts_with("JPKI_PKCS11_")) continue;
        sources.environment[name] = std::string(text.substr(equals + 1));
    }
    if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && *xdg != '\0')
        sources.user_file_path = std::string(xdg) + "/jpki-pkcs11.conf";
    else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0')
        sources.user_file_path = std::string(home) + "/.config/jpki-pkcs11.conf";
    sources.user_file = read_file(sources.user_file_path);
    sources.system_file = read_file(sources.system_file_path);
    sources.process_name = trim(read_file("/proc/self/comm"));
    return sources;
}

Config resolve_config(const ConfigSources& sources) {
    // Lowest precedence first; later layers overwrite.
    std::vector<std::pair<std::string, Items>> layers;
    layers.emplace_back("/etc/jpki-pkcs11.conf", parse_file(sources.system_file, sources.system_file_path));
    layers.emplace_back("~/.config/jpki-pkcs11.conf", parse_file(sources.user_file, sources.user_file_path));
    Items environment;
    for (const auto& [name, value] : sources.environment) {
        // Only the upper-case spelling is ours: another spelling stays unknown, and says so.
        const std::string key = name == upper(name) ? canonical_key(name) : name;
        environment[key] = Item{value, "environment variable " + name};
    }
    layers.emplace_back("environment", environment);
    layers.emplace_back("C_Initialize pReserved", parse_reserved(sources.init_reserved));

    Config config;
    config.slots = default_profile_for(sources.process_name);
    config.slots_reason = "process name '" + sources.process_name + "'";
    for (const auto& [origin, items] : layers) {
        for (const auto& [key, value] : items) {
            if (key == "slots") {
                static constexpr std::array<std::pair<std::string_view, SlotProfile>, 3> kSlots = {
                    {{"auth", SlotProfile::Auth}, {"sign", SlotProfile::Sign}, {"both", SlotProfile::Both}}};
                config.slots = parse_choice(key, value, kSlots);
                config.slots_reason = origin;
            } else if (key == "allow_final_try") {
                config.allow_final_try = parse_bool(key, value);
            } else if (key == "always_auth") {
                config.always_authenticate = parse_bool(key, value);
            } else if (key == "pss") {
                static constexpr std::array<std::pair<std::string_view, PssMode>, 3> kPss = {
                    {{"off", PssMode::Off}, {"on", PssMode::On}, {"auto", PssMode::Auto}}};
                config.pss = parse_choice(key, value, kPss);
            } else if (key == "log") {
                static constexpr std::array<std::pair<std::string_view, LogLevel>, 3> kLog = {
                    {{"error", LogLevel::Error}, {"info", LogLevel::Info}, {"debug", LogLevel::Debug}}};
                config.log = parse_choice(key, value, kLog);
            } else {
                bad_setting(value.where, "unknown setting " + quoted(key), accepted_keys());
            }
        }
    }
    return config;
}

}  // namespace jpki::token
