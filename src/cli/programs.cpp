// Programs and their NSS databases (programs.hpp).
#include "cli/programs.hpp"

#include "cli/i18n.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

namespace jpki::cli {

namespace fs = std::filesystem;

namespace {

constexpr std::array<std::string_view, 3> kFirefoxNames = {"firefox", "firefox-esr", "firefox-bin"};
constexpr std::array<std::string_view, 2> kThunderbirdNames = {"thunderbird", "thunderbird-bin"};
constexpr std::array<std::string_view, 3> kChromeNames = {"chrome", "chromium", "chromium-browse"};
constexpr std::array<std::string_view, 1> kLibreOfficeNames = {"soffice.bin"};
constexpr std::array<std::string_view, 2> kFirefoxCommands = {"firefox", "firefox-esr"};
constexpr std::array<std::string_view, 1> kThunderbirdCommands = {"thunderbird"};
constexpr std::array<std::string_view, 2> kChromeCommands = {"google-chrome", "chromium"};
constexpr std::array<std::string_view, 1> kLibreOfficeCommands = {"libreoffice"};

fs::path config_home() {
    if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && *xdg == '/') return xdg;
    return home_dir() / ".config";
}

// One [ProfileN] of a Mozilla profiles.ini.
struct MozillaProfile {
    std::string name;
    fs::path dir;
    bool is_default = false;
};

// Every [Profile*] section with a Path (IsRelative=1: relative to the ini's folder); a section
// without one goes to `skipped` by its name ("[Profile2]", with Name= when it has one).
std::vector<MozillaProfile> read_profiles_ini(const fs::path& root, std::vector<std::string>* skipped = nullptr) {
    std::vector<MozillaProfile> profiles;
    std::string header;
    std::istringstream lines(read_text(root / "profiles.ini"));
    std::string line;
    std::map<std::string, std::string> section;
    bool in_profile = false;
    const auto finish = [&] {
        if (in_profile && !section["Path"].empty()) {
            const bool relative = section.contains("IsRelative") ? section["IsRelative"] != "0" : true;
            const fs::path path = section["Path"];
            MozillaProfile profile{section["Name"], relative ? root / path : path, section["Default"] == "1"};
            if (profile.name.empty()) profile.name = profile.dir.filename().string();
            profiles.push_back(std::move(profile));
        } else if (in_profile && skipped != nullptr) {
            skipped->push_back(section["Name"].empty() ? header : header + " (Name=" + section["Name"] + ")");
        }
        section.clear();
    };
    while (std::getline(lines, line)) {
        const std::string text = trim(line);
        if (text.starts_with('[')) {
            finish();
            in_profile = text.starts_with("[Profile");
            header = text;
            continue;
        }
        if (const auto equals = text.find('='); equals != std::string::npos)
            section[trim(text.substr(0, equals))] = trim(text.substr(equals + 1));
    }
    finish();
    return profiles;
}

std::vector<fs::path> mozilla_roots(Program program) {
    const fs::path home = home_dir();
    if (program == Program::Firefox)
        return {home / ".mozilla/firefox", home / "snap/firefox/common/.mozilla/firefox",
                home / ".var/app/org.mozilla.firefox/.mozilla/firefox"};
    return {home / ".thunderbird", home / "snap/thunderbird/common/.thunderbird",
            home / ".var/app/org.mozilla.Thunderbird/.thunderbird"};
}

std::vector<NssDatabase> mozilla_databases(Program program, std::vector<std::string>& notes) {
    std::vector<NssDatabase> found;
    for (const auto& root : mozilla_roots(program)) {
        std::vector<std::string> skipped;
        for (const auto& profile : read_profiles_ini(root, &skipped))
            found.push_back({program, profile.dir,
                             msg(program == Program::Firefox ? tr("Firefox profile {0} ({1})") : tr("Thunderbird profile {0} ({1})"),
                                 profile.name, tilde(profile.dir)),
                             {program}, false});
        for (const auto& section : skipped)
            notes.push_back(msg(tr("{0}: the profile {1} in {2} has no Path= line: skipped (fix or remove that section)."),
                                program_name(program), section, tilde(root / "profiles.ini")));
    }
    return found;
}

// LibreOffice's fallback: the product's default profile (Default=1, else the first by name, as
// its MozillaBootstrap's profile map does) in the classic folder.
std::optional<MozillaProfile> default_profile(Program program) {
    auto profiles = read_profiles_ini(mozilla_roots(program).front());
    if (profiles.empty()) return std::nullopt;
    const auto chosen = std::find_if(profiles.begin(), profiles.end(), [](const auto& p) { return p.is_default; });
    if (chosen != profiles.end()) return *chosen;
    return *std::min_element(profiles.begin(), profiles.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
}

std::string xml_unescape(std::string text) {
    static constexpr std::array<std::pair<std::string_view, char>, 5> kEntities = {
        {{"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}, {"&amp;", '&'}}};
    for (const auto& [entity, c] : kEntities)
        for (auto at = text.find(entity); at != std::string::npos; at = text.find(entity, at + 1))
            text.replace(at, entity.size(), 1, c);
    return text;
}

// A folder as LibreOffice or NSS writes it: "sql:/path", "/path" or "file:///path".
fs::path nss_folder(std::string value) {
    if (value.starts_with("sql:")) value.erase(0, 4);
    if (value.starts_with("file://")) {
        value.erase(0, 7);
        std::string decoded;
        for (std::size_t i = 0; i < value.size(); ++i) {
            if (value[i] == '%' && i + 2 < value.size() && std::isxdigit(static_cast<unsigned char>(value[i + 1])) != 0 &&
                std::isxdigit(static_cast<unsigned char>(value[i + 2])) != 0) {
                decoded.push_back(static_cast<char>(std::stoi(value.substr(i + 1, 2), nullptr, 16)));
                i += 2;
            } else {
                decoded.push_back(value[i]);
            }
        }
        value = decoded;
    }
    return value;
}

// org.openoffice.Office.Common/Security/Scripting/<name> from registrymodifications.xcu (the
// schema: share/registry/main.xcd), "" when unset.
std::string libreoffice_setting(const std::string& xcu, std::string_view name) {
    const std::string item = R"(<item oor:path="/org.openoffice.Office.Common/Security/Scripting">)";
    const std::string prop = "<prop oor:name=\"" + std::string(name) + "\"";
    std::string value;  // the last one wins, as when LibreOffice reads the file
    for (auto at = xcu.find(item); at != std::string::npos; at = xcu.find(item, at + 1)) {
        const auto end = xcu.find("</item>", at);
        const std::string body = xcu.substr(at, end == std::string::npos ? std::string::npos : end - at);
        if (body.find(prop) == std::string::npos) continue;
        const auto open = body.find("<value>");
        const auto close = body.find("</value>");
        value = open == std::string::npos || close == std::string::npos || close < open
                    ? std::string()
                    : xml_unescape(body.substr(open + 7, close - open - 7));
    }
    return trim(value);
}

std::vector<NssDatabase> libreoffice_databases(std::vector<std::string>& notes) {
    const fs::path xcu_path = config_home() / "libreoffice/4/user/registrymodifications.xcu";
    if (const char* env = std::getenv("MOZILLA_CERTIFICATE_FOLDER"); env != nullptr && *env != '\0') {
        const fs::path dir = nss_folder(env);
        return {{Program::LibreOffice, dir,
                 msg(tr("LibreOffice (certificate folder {}, from MOZILLA_CERTIFICATE_FOLDER)"), tilde(dir)),
                 {Program::LibreOffice}, false}};
    }
    const std::string xcu = read_text(xcu_path);
    // CertDir is what Tools > Options > Security > Certificate Path saves and what NSS is opened
    // with, when the folder exists (ManualCertDir only remembers the dialog's list).
    const std::string cert_dir = libreoffice_setting(xcu, "CertDir");
    std::error_code error;
    if (!cert_dir.empty() && fs::is_directory(nss_folder(cert_dir), error)) {
        const fs::path dir = nss_folder(cert_dir);
        return {{Program::LibreOffice, dir,
                 msg(tr("LibreOffice (certificate folder {}, from its Certificate Path setting)"), tilde(dir)),
                 {Program::LibreOffice}, false}};
    }
    // A setting naming a folder that is gone: LibreOffice falls back as when none is set.
    const std::string gone = cert_dir.empty() ? std::string() : tilde(nss_folder(cert_dir));
    for (const Program fallback : {Program::Thunderbird, Program::Firefox}) {
        const auto profile = default_profile(fallback);
        if (!profile) continue;
        const std::string description =
            gone.empty() ? msg(fallback == Program::Thunderbird
                                   ? tr("LibreOffice (no certificate folder set: it uses the Thunderbird profile {0}, {1})")
                                   : tr("LibreOffice (no certificate folder set: it uses the Firefox profile {0}, {1})"),
                               profile->name, tilde(profile->dir))
                         : msg(fallback == Program::Thunderbird
                                   ? tr("LibreOffice (the certificate folder set in LibreOffice, {2}, does not exist: it uses the "
                                        "Thunderbird profile {0}, {1})")
                                   : tr("LibreOffice (the certificate folder set in LibreOffice, {2}, does not exist: it uses the "
                                        "Firefox profile {0}, {1})"),
                               profile->name, tilde(profile->dir), gone);
        return {{Program::LibreOffice, profile->dir, description, {Program::LibreOffice, fallback}, false}};
    }
    notes.push_back(gone.empty()
                        ? msg(tr("LibreOffice: no certificate folder is set in {} and there is no Thunderbird or Firefox profile "
                                 "to fall back to. Choose one in Tools > Options > LibreOffice > Security > Certificate Path."),
                              tilde(xcu_path))
                        : msg(tr("LibreOffice: the certificate folder set in LibreOffice ({0}) does not exist, and there is no "
                                 "Thunderbird or Firefox profile to fall back to. Create that folder with its database "
                                 "(certutil -N -d sql:{0} --empty-password), or choose another in Tools > Options > "
                                 "LibreOffice > Security > Certificate Path."),
                              gone));
    return {};
}

std::vector<fs::path> chrome_lock_links() {
    const fs::path config = config_home();
    return {config / "google-chrome/SingletonLock", config / "chromium/SingletonLock"};
}

// The process a lock symbolic link names ("127.0.1.1:+1234" for Mozilla, "host-1234" for Chrome):
// true while it lives, or when the target names no process (a lock we cannot judge is kept).
bool lock_is_live(const fs::path& link) {
    std::error_code error;
    if (!fs::is_symlink(link, error)) return false;
    const std::string target = fs::read_symlink(link, error).string();
    const auto digits = target.find_last_not_of("0123456789");
    const std::string pid_text = digits == std::string::npos ? target : target.substr(digits + 1);
    if (pid_text.empty() || pid_text.size() > 9) return true;
    const pid_t pid = std::stoi(pid_text);
    return ::kill(pid, 0) == 0 || errno == EPERM;
}

std::string lock_pid(const fs::path& link) {
    std::error_code error;
    const std::string target = fs::read_symlink(link, error).string();
    const auto digits = target.find_last_not_of("0123456789");
    return digits == std::string::npos ? target : target.substr(digits + 1);
}

// Does process `pid` run with this HOME (or below it), for this user?
bool process_is_ours(const fs::path& proc) {
    struct stat info {};
    if (::stat(proc.c_str(), &info) != 0 || info.st_uid != ::getuid()) return false;
    // A zombie (ended, not yet reaped: its environment reads empty) uses no database any more.
    const std::string stat = read_text(proc / "stat");
    if (const auto paren = stat.rfind(')'); paren != std::string::npos && stat.compare(paren, 4, ") Z ") == 0) return false;
    const std::string environment = read_text(proc / "environ");
    if (environment.empty()) return true;  // not readable: it might be ours
    const std::string home = home_dir().string();
    std::size_t at = 0;
    while (at < environment.size()) {
        const auto end = environment.find('\0', at);
        const std::string entry = environment.substr(at, end == std::string::npos ? std::string::npos : end - at);
        if (entry.starts_with("HOME=")) {
            const std::string value = entry.substr(5);
            return value == home || value.starts_with(home + "/");
        }
        if (end == std::string::npos) break;
        at = end + 1;
    }
    return true;
}

}  // namespace

std::string_view program_word(Program program) {
    switch (program) {
    case Program::Firefox: return "firefox";
    case Program::Thunderbird: return "thunderbird";
    case Program::Chrome: return "chrome";
    case Program::LibreOffice: return "libreoffice";
    }
    return "";
}

std::string_view program_name(Program program) {
    switch (program) {
    case Program::Firefox: return "Firefox";
    case Program::Thunderbird: return "Thunderbird";
    case Program::Chrome: return "Chrome/Chromium";
    case Program::LibreOffice: return "LibreOffice";
    }
    return "";
}

std::span<const std::string_view> process_names(Program program) {
    switch (program) {
    case Program::Firefox: return kFirefoxNames;
    case Program::Thunderbird: return kThunderbirdNames;
    case Program::Chrome: return kChromeNames;
    case Program::LibreOffice: return kLibreOfficeNames;
    }
    return {};
}

std::optional<fs::path> blocking_file(const fs::path& dir) {
    for (fs::path p = dir; !p.empty() && p != p.parent_path(); p = p.parent_path()) {
        std::error_code error;
        const auto status = fs::status(p, error);
        if (fs::exists(status) && !fs::is_directory(status)) return p;
    }
    return std::nullopt;
}

std::span<const std::string_view> command_names(Program program) {
    switch (program) {
    case Program::Firefox: return kFirefoxCommands;
    case Program::Thunderbird: return kThunderbirdCommands;
    case Program::Chrome: return kChromeCommands;
    case Program::LibreOffice: return kLibreOfficeCommands;
    }
    return {};
}

fs::path home_dir() {
    if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/') return fs::path(home).lexically_normal();
    if (const passwd* entry = ::getpwuid(::getuid()); entry != nullptr && entry->pw_dir != nullptr) return entry->pw_dir;
    return "/";
}

std::string tilde(const fs::path& path) {
    const std::string home = home_dir().string();
    std::string text = path.lexically_normal().string();
    if (text == home) return "~";
    if (home != "/" && text.starts_with(home + "/")) return "~" + text.substr(home.size());
    return text;
}

std::vector<NssDatabase> find_databases(Program program, std::vector<std::string>& notes) {
    switch (program) {
    case Program::Firefox:
    case Program::Thunderbird: {
        auto found = mozilla_databases(program, notes);
        if (found.empty())
            notes.push_back(msg(program == Program::Firefox ? tr("No Firefox profile found (looked in {}).")
                                                      : tr("No Thunderbird profile found (looked in {})."),
                          tilde(mozilla_roots(program).front() / "profiles.ini")));
        return found;
    }
    case Program::Chrome: {
        const fs::path dir = home_dir() / ".pki/nssdb";
        return {{Program::Chrome, dir, msg(tr("Chrome/Chromium ({})"), tilde(dir)), {Program::Chrome}, true}};
    }
    case Program::LibreOffice: return libreoffice_databases(notes);
    }
    return {};
}

std::string absence_reason(const NssDatabase& db) {
    if (db.created_on_demand) {
        if (const auto file = blocking_file(db.dir))
            return msg(tr("no certificate database, and it cannot be made: {} is a file, not a folder"), tilde(*file));
        return tr("no certificate database yet (jpki setup makes it)");
    }
    std::error_code error;
    if (!fs::is_directory(db.dir, error))
        return db.program == Program::LibreOffice
                   ? tr("the certificate folder does not exist")
                   : tr("the profile folder does not exist (remove the profile from profiles.ini, or create it by starting the program)");
    return msg(tr("no certificate database yet: start {} once, close it, then run jpki setup again"), program_name(db.program));
}

std::vector<std::string> running_evidence(Program program, std::span<const NssDatabase> databases) {
    std::vector<std::string> evidence;
    const auto names = process_names(program);
    std::error_code error;
    for (fs::directory_iterator it("/proc", error), end; !error && it != end; it.increment(error)) {
        const std::string pid = it->path().filename().string();
        if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
        const std::string comm = trim(read_text(it->path() / "comm"));
        if (std::find(names.begin(), names.end(), comm) == names.end()) continue;
        if (process_is_ours(it->path())) evidence.push_back(msg(tr("{0} (process {1})"), comm, pid));
    }
    std::vector<fs::path> locks;
    if (program == Program::Firefox || program == Program::Thunderbird) {
        for (const auto& db : databases)
            if (std::find(db.users.begin(), db.users.end(), program) != db.users.end() &&
                std::find(locks.begin(), locks.end(), db.dir / "lock") == locks.end())
                locks.push_back(db.dir / "lock");
    } else if (program == Program::Chrome) {
        locks = chrome_lock_links();
    }
    for (const auto& lock : locks)
        if (lock_is_live(lock)) evidence.push_back(msg(tr("lock {0} (process {1})"), tilde(lock), lock_pid(lock)));
    return evidence;
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    if (in) text << in.rdbuf();
    return text.str();
}

std::string trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    return std::string(text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1));
}

}  // namespace jpki::cli
