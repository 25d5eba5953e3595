// `jpki doctor [--json] [--module PATH]` (issue 8): what stands between the holder and a working
// card, each finding with the exact command that fixes it. pcscd, readers, cards; the module file
// and its p11-kit registration; the NSS databases of Firefox, Thunderbird, Chrome and LibreOffice
// (the discovery of `jpki setup`, read through modutil -list); which slots each program gets (the
// module's own default table, include/jpki/slot_defaults.hpp, and the `slots` settings of the
// configuration files, read as text: the token layer is not linked into jpki).
//
// Not shown: the certificates' issuer generation (the CA hierarchy checks belong to `jpki status`
// and `jpki cert verify`); the card's EF 0006 label is.
#include "cli/card_access.hpp"
#include "cli/cli.hpp"
#include "cli/i18n.hpp"
#include "cli/nss_tool.hpp"
#include "cli/programs.hpp"
#include "cli/terminal.hpp"

#include <jpki/slot_defaults.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string_view>
#include <vector>

#include <unistd.h>

#ifndef JPKI_INSTALLED_MODULE
#error "JPKI_INSTALLED_MODULE, JPKI_P11KIT_MODULE_PATH and JPKI_P11KIT_MODULE_CONFIGS come from src/cli/CMakeLists.txt"
#endif

namespace jpki::cli {

namespace fs = std::filesystem;

namespace {

enum class Status { Ok, Action, Info };

struct Finding {
    std::string check;  // pcscd, readers, card, module, p11-kit, nss, slots
    Status status;
    std::string message;
    std::string fix;  // the exact command (or the act) that fixes it; "" when nothing to fix
};

struct Report {
    std::vector<Finding> findings;
    nlohmann::json json = nlohmann::json::object();
    void add(std::string check, Status status, std::string message, std::string fix = {}) {
        findings.push_back({std::move(check), status, std::move(message), std::move(fix)});
    }
};

void print_help() {
    std::printf("%s\n", tr("Usage: jpki doctor [--json] [--module PATH]\n"
                           "\n"
                           "Checks the smart card service (pcscd), the readers and cards, the module file and its\n"
                           "registration with p11-kit, the NSS databases of Firefox, Thunderbird, Chrome/Chromium and\n"
                           "LibreOffice, and which tokens each program sees. Each problem comes with the command that\n"
                           "fixes it.\n"
                           "\n"
                           "Options:\n"
                           "  --json         the findings as JSON\n"
                           "  --module PATH  check this module file (default: the installed one)\n"
                           "\n"
                           "Exit codes: 0 all is well, 6 something needs your action."));
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

fs::path config_home() {
    if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && *xdg == '/') return xdg;
    return home_dir() / ".config";
}

void check_cards(Report& report) {
    nlohmann::json readers_json = nlohmann::json::array();
    report.json["pcscd"] = {{"reachable", false}};
    report.json["readers"] = readers_json;
    CardAccess access;
    std::vector<transport::ReaderStatus> readers;
    try {
        readers = access.readers();
    } catch (const CliError&) {  // CardAccess::readers(): pcscd cannot be reached
        report.add("pcscd", Status::Action, tr("The smart card service (pcscd) is not reachable."), pcscd_fix());
        return;
    } catch (...) {
        report.add("pcscd", Status::Action, describe_failure(std::current_exception()).second);
        return;
    }
    report.json["pcscd"]["reachable"] = true;
    report.add("pcscd", Status::Ok, tr("The smart card service (pcscd) is reachable."));
    if (readers.empty()) {
        report.add("readers", Status::Action, tr("No card reader found."),
                   tr("connect the card reader (USB: plug it in; then check with: pcsc_scan)"));
        return;
    }
    bool card_found = false;
    for (const auto& reader : readers) {
        nlohmann::json entry = {{"name", reader.name}, {"card_present", reader.card_present}, {"card", nullptr}};
        if (!reader.card_present) {
            report.add("readers", Status::Info, msg(tr("Reader '{}': no card."), reader.name));
        } else {
            try {
                const auto card = access.try_open(reader.name);
                if (card) {
                    card_found = true;
                    entry["card"] = {{"label", card->info().label}};
                    report.add("card", Status::Ok, msg(tr("Reader '{0}': My Number Card (card label {1})."), reader.name, card->info().label));
                } else {
                    report.add("card", Status::Info, msg(tr("Reader '{}': the card is not a My Number Card."), reader.name));
                }
            } catch (...) {
                report.add("card", Status::Action, msg(tr("Reader '{0}': {1}"), reader.name, describe_failure(std::current_exception()).second),
                           tr("close the program using the card, or take the card out and insert it again"));
                card_found = true;  // there is a card; the finding above says what is wrong with it
            }
        }
        readers_json.push_back(entry);
    }
    report.json["readers"] = readers_json;
    if (!card_found) report.add("card", Status::Action, tr("No My Number Card in any reader."), tr("insert your My Number Card"));
}

// The p11-kit module configs in `folders` naming `module` (p11-kit resolves a relative name
// against its p11_module_path): the first such file, or "".
std::string config_naming(const fs::path& module, std::span<const fs::path> folders) {
    for (const auto& folder : folders) {
        std::error_code error;
        for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
            if (it->path().extension() != ".module") continue;
            std::istringstream lines(read_text(it->path()));
            std::string line;
            while (std::getline(lines, line)) {
                const auto colon = line.find(':');
                if (colon == std::string::npos || trim(line.substr(0, colon)) != "module") continue;
                fs::path named = trim(line.substr(colon + 1));
                if (named.is_relative()) named = fs::path(JPKI_P11KIT_MODULE_PATH) / named;
                if (same_file(named, module)) return it->path().string();
            }
        }
    }
    return {};
}

// What p11-kit itself loads: `p11-kit list-modules` starts each module with "NAME: LIBRARY" at the
// line's start. The NAME whose library is `module`, "" when none; nullopt when p11-kit cannot be
// asked (not installed, or it failed).
std::optional<std::string> p11kit_lists(const fs::path& module) {
    const auto run = run_tool({"p11-kit", "list-modules"});
    if (!run || run->status != 0) return std::nullopt;
    std::istringstream lines(run->output);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty() || std::isspace(static_cast<unsigned char>(line[0])) != 0) continue;
        const auto colon = line.find(": ");
        if (colon == std::string::npos) continue;
        fs::path library = trim(line.substr(colon + 2));
        if (library.is_relative()) library = fs::path(JPKI_P11KIT_MODULE_PATH) / library;
        if (same_file(library, module)) return line.substr(0, colon);
    }
    return std::string();
}

void check_module(Report& report, const fs::path& module) {
    std::error_code error;
    const bool exists = fs::exists(module, error);
    const std::string problem = exists ? module_file_problem(module) : std::string();
    const bool installed = exists && problem.empty();
    // p11-kit reads ~/.config/pkcs11 only for users other than root (README "p11-kit"); root's
    // registration belongs in p11-kit's own folder, where `cmake --install` puts it too.
    const bool root = ::getuid() == 0;
    const fs::path user_folder = config_home() / "pkcs11/modules";
    const std::array<fs::path, 2> system_folders = {fs::path(JPKI_P11KIT_MODULE_CONFIGS), "/etc/pkcs11/modules"};
    std::string registered;
    std::string ignored;  // root's ~/.config file, which p11-kit does not read
    std::optional<std::string> listed;
    if (installed) {
        registered = config_naming(module, system_folders);
        const std::string user_file = config_naming(module, std::span(&user_folder, 1));
        if (registered.empty() && !root) registered = user_file;
        if (root) ignored = user_file;
        listed = p11kit_lists(module);
    }
    // p11-kit's own answer wins over the files: it knows its settings (user-config: none, ...).
    const bool p11kit_registered = listed ? !listed->empty() : !registered.empty();
    if (p11kit_registered && registered.empty()) registered = *listed;
    report.json["module"] = {{"path", module.string()}, {"installed", installed}, {"p11kit_registered", p11kit_registered},
                             {"p11kit_config", p11kit_registered ? nlohmann::json(registered) : nlohmann::json(nullptr)}};
    if (!exists) {
        report.add("module", Status::Action, msg(tr("The module file {} does not exist."), module.string()),
                   tr("sudo cmake --install build (in the jpki-pkcs11 source tree, after building it)"));
        return;
    }
    if (!installed) {
        report.json["module"]["problem"] = problem;
        report.add("module", Status::Action, msg(tr("{0} is not a PKCS#11 module ({1})."), module.string(), problem),
                   tr("give the path of jpki-pkcs11.so with --module PATH, or install the module: sudo cmake --install build "
                      "(in the jpki-pkcs11 source tree, after building it)"));
        return;
    }
    report.add("module", Status::Ok, msg(tr("Module file: {}"), module.string()));
    if (!run_tool({"p11-kit", "--help"}))
        report.add("p11-kit", Status::Action, tr("p11-kit is not installed (GnuTLS programs and p11-kit-proxy find modules through it)."),
                   "sudo apt install p11-kit");
    if (p11kit_registered) {
        report.add("p11-kit", Status::Ok, msg(tr("Registered with p11-kit: {}"), registered));
        return;
    }
    if (!ignored.empty())
        report.add("p11-kit", Status::Info, msg(tr("{} names the module, but p11-kit does not read ~/.config/pkcs11 for root."), ignored));
    else if (!registered.empty())
        report.add("p11-kit", Status::Info, msg(tr("{} names the module, but p11-kit does not load it (p11-kit list-modules does not show it)."),
                                                registered));
    const std::string folder = root ? std::string(JPKI_P11KIT_MODULE_CONFIGS) : tilde(user_folder);
    report.add("p11-kit", Status::Action, tr("The module is not registered with p11-kit (GnuTLS programs and p11-kit-proxy do not see it)."),
               "mkdir -p " + folder + " && echo 'module: " + module.string() + "' > " + folder + "/jpki-pkcs11.module");
}

// `module_option`: " --module PATH" when doctor was given one, so that the fix adds that file.
// `module_usable`: false when the module file is not a module: `jpki setup` would refuse it, so no
// NSS fix names it (the module finding says what to do first; a missing file is installed first).
void check_nss(Report& report, const fs::path& module, const std::string& module_option, bool module_usable) {
    nlohmann::json databases = nlohmann::json::array();
    std::map<std::string, std::vector<NssModule>> listed;  // one modutil run per folder
    for (const Program program : kAllPrograms) {
        std::vector<std::string> notes;
        const auto found = find_databases(program, notes);
        for (const auto& note : notes) report.add("nss", Status::Info, note);
        for (const auto& db : found) {
            nlohmann::json entry = {{"program", std::string(program_word(program))}, {"path", db.dir.string()}, {"description", db.description}};
            const std::string fix = module_usable ? "jpki setup " + std::string(program_word(program)) + module_option : std::string();
            if (!has_nss_database(db.dir)) {
                entry["state"] = "no-database";
                const auto blocking = blocking_file(db.dir);
                report.add("nss", blocking ? Status::Action : Status::Info, msg(tr("{0}: {1}."), db.description, absence_reason(db)),
                           blocking ? "mv " + tilde(*blocking) + " " + tilde(*blocking) + ".old" + (fix.empty() ? "" : " && " + fix)
                           : db.created_on_demand ? fix
                                                  : std::string());
                databases.push_back(entry);
                continue;
            }
            const std::string key = db.dir.lexically_normal().string();
            if (!listed.contains(key)) {
                try {
                    listed[key] = list_modules(db.dir);
                } catch (const ToolMissing&) {
                    report.add("nss", Status::Action, tr("modutil is not installed: the NSS databases cannot be checked."),
                               "sudo apt install libnss3-tools");
                    report.json["nss_databases"] = databases;
                    return;
                } catch (const ToolFailed& failure) {
                    // The fix repairs the database (its owner, a damaged file): jpki setup would fail the same way.
                    const auto explained = explain_failure(failure, db.dir);
                    entry["state"] = "unreadable";
                    report.add("nss", Status::Action, msg(tr("{0}: modutil could not read it: {1}"), db.description, explained.text),
                               explained.fix);
                    databases.push_back(entry);
                    continue;
                }
            }
            const auto& modules = listed[key];
            const auto ours = std::find_if(modules.begin(), modules.end(), [](const auto& m) { return m.name == kNssModuleName; });
            const auto same = std::find_if(modules.begin(), modules.end(), [&](const auto& m) { return same_file(m.library, module); });
            if (ours != modules.end() && same_file(ours->library, module)) {
                entry["state"] = "loaded";
                report.add("nss", Status::Ok, msg(tr("{}: module loaded."), db.description));
            } else if (same != modules.end()) {
                entry["state"] = "other-name";
                report.add("nss", Status::Ok, msg(tr("{0}: module loaded (as '{1}')."), db.description, same->name));
            } else if (!database_writable(db.dir)) {
                // jpki setup would fail on it: the fix is the folder's owner or permissions.
                const auto explained = read_only_database(db.dir);
                entry["state"] = "read-only";
                report.add("nss", Status::Action,
                           msg(tr("{0}: module not loaded, and jpki setup cannot add it: {1}."), db.description, explained.text), explained.fix);
            } else if (ours != modules.end()) {
                entry["state"] = "other-file";
                report.add("nss", Status::Action, msg(tr("{0}: the module is loaded from another file, {1}."), db.description, ours->library), fix);
            } else {
                entry["state"] = "not-loaded";
                report.add("nss", Status::Action, msg(tr("{}: module not loaded."), db.description), fix);
            }
            databases.push_back(entry);
        }
    }
    report.json["nss_databases"] = databases;
}

std::string slots_word(DefaultSlots slots) {
    switch (slots) {
    case DefaultSlots::Auth: return "auth";
    case DefaultSlots::Sign: return "sign";
    case DefaultSlots::Both: break;
    }
    return "both";
}

std::string slots_text(DefaultSlots slots) {
    switch (slots) {
    case DefaultSlots::Auth: return tr("the authentication token only");
    case DefaultSlots::Sign: return tr("the signature token only");
    case DefaultSlots::Both: break;
    }
    return tr("both tokens");
}

// The `slots` item of a configuration file (key `slots` or `JPKI_PKCS11_SLOTS`, any case), or "".
std::string slots_setting(const fs::path& file) {
    std::istringstream lines(read_text(file));
    std::string line;
    std::string value;
    while (std::getline(lines, line)) {
        if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
        const auto equals = line.find('=');
        if (equals == std::string::npos) continue;
        std::string key = lower(trim(line.substr(0, equals)));
        if (key.starts_with("jpki_pkcs11_")) key.erase(0, 12);
        if (key == "slots") value = trim(line.substr(equals + 1));
    }
    return value;
}

void check_slots(Report& report) {
    nlohmann::json slots = nlohmann::json::array();
    for (const Program program : kAllPrograms) {
        const auto names = process_names(program);
        nlohmann::json names_json = nlohmann::json::array();
        for (const auto name : names) names_json.push_back(std::string(name));
        std::string list;  // the commands the holder knows, not /proc's 15-character process names
        for (const auto name : command_names(program)) list += (list.empty() ? "" : ", ") + std::string(name);
        const DefaultSlots chosen = default_slots_for(names.front());
        slots.push_back({{"program", std::string(program_word(program))}, {"process_names", names_json}, {"tokens", slots_word(chosen)}});
        report.add("slots", Status::Info, msg(tr("{0} ({1}) sees {2}."), program_name(program), list, slots_text(chosen)));
    }
    // The table's other programs (pdfsig, OpenSSH: jpki has no database for them), one line each
    // under the table's program name with the commands that run its processes, so that the whole
    // table is shown; rows of one program are adjacent in the table (a program whose rows differ in
    // slots gets a line for each).
    for (auto row = kProcessSlots.begin(); row != kProcessSlots.end();) {
        const auto end = std::find_if(row, kProcessSlots.end(), [&](const ProcessSlots& next) { return next.program != row->program || next.slots != row->slots; });
        const bool shown = std::any_of(kAllPrograms.begin(), kAllPrograms.end(), [&](Program program) { return program_name(program) == row->program; });
        if (!shown) {
            nlohmann::json names_json = nlohmann::json::array();
            std::vector<std::string_view> commands;
            for (auto it = row; it != end; ++it) {
                names_json.push_back(std::string(it->process_name));
                if (std::find(commands.begin(), commands.end(), it->command) == commands.end()) commands.push_back(it->command);
            }
            const std::string name(row->program);
            slots.push_back({{"program", lower(name)}, {"process_names", names_json}, {"tokens", slots_word(row->slots)}});
            if (commands.size() == 1 && commands.front() == row->program) {
                report.add("slots", Status::Info, msg(tr("{0} sees {1}."), name, slots_text(row->slots)));
            } else {
                std::string list;
                for (const auto command : commands) list += (list.empty() ? "" : ", ") + std::string(command);
                report.add("slots", Status::Info, msg(tr("{0} ({1}) sees {2}."), name, list, slots_text(row->slots)));
            }
        }
        row = end;
    }
    report.add("slots", Status::Info, msg(tr("Other programs (modutil, certutil, p11tool, ...) see {}."), slots_text(DefaultSlots::Both)));
    report.json["slots"] = slots;
    // A setting changes this for every program that reads it (docs/module.md "Configuration").
    const fs::path user_file = config_home() / "jpki-pkcs11.conf";
    for (const auto& file : {fs::path("/etc/jpki-pkcs11.conf"), user_file}) {
        const std::string value = slots_setting(file);
        if (!value.empty())
            report.add("slots", Status::Info, msg(tr("{0} sets slots = {1} for every program: it replaces the choices above."), tilde(file), value));
    }
    if (const char* env = std::getenv("JPKI_PKCS11_SLOTS"); env != nullptr && *env != '\0')
        report.add("slots", Status::Info, msg(tr("JPKI_PKCS11_SLOTS={} is set here: programs started from this shell see that instead."), env));
}

std::string status_word(Status status) {
    switch (status) {
    case Status::Ok: return "ok";
    case Status::Action: return "action";
    case Status::Info: break;
    }
    return "info";
}

}  // namespace

int run_doctor(const std::vector<std::string>& words) {
    static constexpr std::array<OptionSpec, 3> spec = {{{"json"}, {"module", true}, {"help"}}};
    const Args args("jpki doctor", words, spec);
    if (args.flag("help")) {
        print_help();
        return 0;
    }
    args.expect_operands(0, 0);
    fs::path module = args.value("module").value_or(JPKI_INSTALLED_MODULE);
    std::error_code error;
    if (fs::path absolute = fs::absolute(module, error); !error) module = absolute.lexically_normal();

    Report report;
    check_cards(report);
    check_module(report, module);
    check_nss(report, module, args.value("module") ? " --module " + module.string() : std::string(),
              !fs::exists(module, error) || module_file_problem(module).empty());
    check_slots(report);

    const auto actions = static_cast<unsigned long>(
        std::count_if(report.findings.begin(), report.findings.end(), [](const auto& f) { return f.status == Status::Action; }));
    if (args.flag("json")) {
        nlohmann::json findings = nlohmann::json::array();
        for (const auto& f : report.findings)
            findings.push_back({{"check", f.check}, {"status", status_word(f.status)}, {"message", f.message},
                                {"fix", f.fix.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.fix)}});
        report.json["ok"] = actions == 0;
        report.json["findings"] = findings;
        // Profile names and folders come from files and need not be UTF-8: replaced, not an exception.
        std::printf("%s\n", report.json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
        for (const auto& f : report.findings) {
            const std::string tag = f.status == Status::Ok       ? paint(Colour::Green, tr("[ok]"))
                                    : f.status == Status::Action ? paint(Colour::Red, tr("[action]"))
                                                                 : std::string(tr("[info]"));
            std::printf("%s %s\n", tag.c_str(), f.message.c_str());
            if (!f.fix.empty()) std::printf("  %s\n", msg(tr("Fix: {}"), f.fix).c_str());
        }
        std::printf("\n%s\n", actions == 0 ? tr("All is well.")
                                           : msg(ntr("{} finding needs your action.", "{} findings need your action.", actions), actions).c_str());
    }
    return static_cast<int>(actions == 0 ? ExitCode::Ok : ExitCode::Attention);
}

}  // namespace jpki::cli
