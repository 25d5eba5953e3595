// Module configuration (docs/design.md §3 "Configuration"). Sources, first match wins:
// C_Initialize's pReserved string (p11-kit's x-init-reserved), environment variables,
// ~/.config/jpki-pkcs11.conf, /etc/jpki-pkcs11.conf. Each source holds `key = value` items
// (lines, or `;`/space separated in pReserved); a key is the variable's name with or without
// its JPKI_PKCS11_ prefix, in either case: `slots=auth` and `JPKI_PKCS11_SLOTS=auth` are one.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace jpki::token {

// Which of a card's two slots an application sees ("Which slots an application sees").
enum class SlotProfile { Auth, Sign, Both };
enum class PssMode { Off, On, Auto };
enum class LogLevel { Error, Info, Debug };

struct Config {
    SlotProfile slots = SlotProfile::Both;
    std::string slots_reason = "default";  // where `slots` came from, for `jpki doctor`
    bool allow_final_try = false;          // JPKI_PKCS11_ALLOW_FINAL_TRY=1
    bool always_authenticate = false;      // JPKI_PKCS11_ALWAYS_AUTH=1 (sign key)
    PssMode pss = PssMode::Auto;           // JPKI_PKCS11_PSS (docs/design.md §6)
    LogLevel log = LogLevel::Error;        // JPKI_PKCS11_LOG
};

// Where configuration comes from; tests give their own, the module the real one.
struct ConfigSources {
    std::string init_reserved;                         // C_Initialize pReserved, may be empty
    std::map<std::string, std::string> environment;    // JPKI_PKCS11_* variables
    std::string user_file;                             // text of ~/.config/jpki-pkcs11.conf
    std::string system_file;                           // text of /etc/jpki-pkcs11.conf
    std::string process_name;                          // e.g. "firefox-esr", "soffice.bin"
    // Where the two files are, to name them in an error.
    std::string user_file_path = "~/.config/jpki-pkcs11.conf";
    std::string system_file_path = "/etc/jpki-pkcs11.conf";
};

// Reads the process's real sources (environment, the two files, /proc/self/comm).
ConfigSources system_config_sources(std::string_view init_reserved);

// Throws token::Error(CKR_ARGUMENTS_BAD) on an unknown key or value, so a typo in a config never
// silently changes which PIN an application is asked for. Its message is one line naming the
// item, where it was written (file and line, environment variable, or pReserved) and what is
// accepted there.
Config resolve_config(const ConfigSources& sources);

// The default slot profile for a process (browsers: auth; LibreOffice: sign; others: both).
SlotProfile default_profile_for(std::string_view process_name);

}  // namespace jpki::token
