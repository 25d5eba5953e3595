// NSS databases changed and read only through NSS's own tools (issue 8: "with NSS's own tools or
// library, not by writing NSS's files itself"): modutil -list/-add/-delete, certutil -N. Used by
// `jpki setup` and `jpki doctor`.
#pragma once

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace jpki::cli {

// The one name the module has in every NSS database `jpki setup` touches (README uses it too).
inline constexpr const char* kNssModuleName = "My Number Card (JPKI)";

// A program run to its end: its exit status (-1: killed by a signal) and its stdout and stderr
// together. nullopt when the program is not installed (not found in PATH).
struct ToolRun {
    int status = -1;
    std::string output;
};
[[nodiscard]] std::optional<ToolRun> run_tool(const std::vector<std::string>& argv);

// A tool that is installed but failed: what() is its first line of output.
class ToolFailed : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};
// modutil/certutil not installed: what() is the tool's name.
class ToolMissing : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// One PKCS#11 module of an NSS database, as `modutil -list` shows it.
struct NssModule {
    std::string name;     // "My Number Card (JPKI)"
    std::string library;  // "library name:" (empty for NSS's internal module)
};

// Does `dir` hold an NSS sql database (cert9.db)?
[[nodiscard]] bool has_nss_database(const std::filesystem::path& dir);

// `modutil -dbdir sql:DIR -list`. Throws ToolMissing, ToolFailed.
[[nodiscard]] std::vector<NssModule> list_modules(const std::filesystem::path& dir);
// `modutil -dbdir sql:DIR -add NAME -libfile LIBRARY -force`. Throws ToolMissing, ToolFailed.
void add_module(const std::filesystem::path& dir, const std::string& name, const std::filesystem::path& library);
// `modutil -dbdir sql:DIR -delete NAME -force`. Throws ToolMissing, ToolFailed.
void delete_module(const std::filesystem::path& dir, const std::string& name);
// mkdir -p DIR (mode 0700) and `certutil -N -d sql:DIR --empty-password`. Throws ToolMissing,
// ToolFailed, std::filesystem::filesystem_error.
void create_nss_database(const std::filesystem::path& dir);

// Is `a` the same file as `b` (after resolving symbolic links; false if either is missing)?
[[nodiscard]] bool same_file(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace jpki::cli
