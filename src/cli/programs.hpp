// The programs `jpki setup` and `jpki doctor` look after, and the NSS databases each uses for the
// current user (issue 8): Firefox and Thunderbird profiles from their profiles.ini (also Firefox's
// snap and flatpak homes), Chrome/Chromium's ~/.pki/nssdb, and LibreOffice's certificate folder
// (MOZILLA_CERTIFICATE_FOLDER, its CertDir setting when that folder exists, else the Thunderbird or Firefox
// default profile, the order of LibreOffice's xmlsecurity/.../nssinitializer.cxx).
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace jpki::cli {

enum class Program { Firefox, Thunderbird, Chrome, LibreOffice };
inline constexpr std::array<Program, 4> kAllPrograms = {Program::Firefox, Program::Thunderbird, Program::Chrome,
                                                        Program::LibreOffice};

// "firefox", "thunderbird", "chrome", "libreoffice": the word on the command line.
[[nodiscard]] std::string_view program_word(Program program);
// "Firefox", "Thunderbird", "Chrome/Chromium", "LibreOffice" (names, not translated).
[[nodiscard]] std::string_view program_name(Program program);
// The program's process names as /proc/PID/comm shows them (at most 15 characters).
[[nodiscard]] std::span<const std::string_view> process_names(Program program);
// The commands the holder starts it with ("chromium", not comm's "chromium-browse"), for messages.
[[nodiscard]] std::span<const std::string_view> command_names(Program program);

// One NSS database a program uses.
struct NssDatabase {
    Program program;
    std::filesystem::path dir;
    std::string description;      // translated, with the folder: "Firefox profile default (~/.mozilla/firefox/x)"
    std::vector<Program> users;   // the programs that must be closed while it changes
    bool created_on_demand = false;  // Chrome's ~/.pki/nssdb: made when missing (Chrome makes it lazily)
};

// The current user's databases of `program`. `notes` gets what the holder should know (translated,
// one sentence each): where it looked when there is none; a profiles.ini profile skipped, and why.
[[nodiscard]] std::vector<NssDatabase> find_databases(Program program, std::vector<std::string>& notes);

// Why `db` has no NSS database (cert9.db) yet, translated: its folder is missing, or the folder
// has none. The same words for setup and doctor.
[[nodiscard]] std::string absence_reason(const NssDatabase& db);

// The file (not a folder) standing where `dir` or one of its parent folders should be, so that
// `dir` cannot be made (~/.pki being a file); nullopt when there is none.
[[nodiscard]] std::optional<std::filesystem::path> blocking_file(const std::filesystem::path& dir);

// What shows that `program` is running for this user: "firefox (process 1234)", "lock
// ~/.mozilla/firefox/x/lock (process 1234)"; empty when nothing does. A process counts when it
// belongs to this user and its HOME is this HOME or below it (snap's HOME is ~/snap/...): a
// program running with another HOME does not use these databases. A lock symbolic link
// (Mozilla's profile `lock`, Chrome's SingletonLock) counts while the process it names lives.
[[nodiscard]] std::vector<std::string> running_evidence(Program program, std::span<const NssDatabase> databases);

// The user's home ($HOME) and a path shown with "~" for it.
[[nodiscard]] std::filesystem::path home_dir();
[[nodiscard]] std::string tilde(const std::filesystem::path& path);

// A text file's whole content; "" when it cannot be read (a missing setting file is no error).
[[nodiscard]] std::string read_text(const std::filesystem::path& path);
// `text` without leading and trailing spaces, tabs and line ends.
[[nodiscard]] std::string trim(std::string_view text);

}  // namespace jpki::cli
