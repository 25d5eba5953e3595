// NSS databases changed and read only through NSS's own tools (issue 8: "with NSS's own tools or
// library, not by writing NSS's files itself"): modutil -list/-add/-delete, certutil -N. Used by
// `jpki setup` and `jpki doctor`.
#pragma once

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
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

// A tool that is installed but failed: what() is its first line of output; output() all of it
// (stdout and stderr together).
class ToolFailed : public std::runtime_error {
public:
    explicit ToolFailed(const std::string& first_line, std::string output = {})
        : std::runtime_error(first_line), output_(std::move(output)) {}
    [[nodiscard]] const std::string& output() const noexcept { return output_; }

private:
    std::string output_;
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
// One certificate of an NSS database, as `certutil -L` shows it.
struct NssCertificate {
    std::string nickname;  // "J-LIS signing CA 2023 (jpki setup)"
    std::string trust;     // certutil's SSL,S/MIME,JAR/XPI flags: ",C,"
};
// `certutil -L -d sql:DIR`: the certificates NSS lists without a login. Throws ToolMissing, ToolFailed.
[[nodiscard]] std::vector<NssCertificate> list_certificates(const std::filesystem::path& dir);
// `certutil -A -d sql:DIR -n NICKNAME -t TRUST -i PEM_FILE`: imports a certificate with its trust
// flags, or sets the flags of the one already there. Throws ToolMissing, ToolFailed.
void add_certificate(const std::filesystem::path& dir, const std::string& nickname, const std::string& trust,
                     const std::filesystem::path& pem_file);
// `certutil -D -d sql:DIR -n NICKNAME`. Throws ToolMissing, ToolFailed.
void delete_certificate(const std::filesystem::path& dir, const std::string& nickname);

// mkdir -p DIR (mode 0700) and `certutil -N -d sql:DIR --empty-password`. Throws ToolMissing,
// ToolFailed, std::filesystem::filesystem_error.
void create_nss_database(const std::filesystem::path& dir);

// Why `path` cannot be a PKCS#11 module for this program's machine, translated ("it is a
// folder", "it is not an ELF shared library", ...), or "" when it can be: a readable regular file
// holding an ELF shared object of this machine (class, byte order and e_machine compared with
// /proc/self/exe). Checked before any database changes: modutil would refuse it only after the
// old registration is gone (issue 8 break test). Does not load the file.
[[nodiscard]] std::string module_file_problem(const std::filesystem::path& path);

// A failed modutil/certutil run on the database in `dir`, explained for the holder (translated):
// `text` says what is wrong (the read-only and damaged databases NSS reports as
// SEC_ERROR_READ_ONLY and SEC_ERROR_BAD_DATABASE; other failures quote the tool's own words
// inside a translated sentence), `fix` the commands that repair it ("" when there is none).
struct FailureExplained {
    std::string text;
    std::string fix;
};
[[nodiscard]] FailureExplained explain_failure(const ToolFailed& failure, const std::filesystem::path& dir);
// The database in `dir` cannot be written (what explain_failure says of SEC_ERROR_READ_ONLY).
[[nodiscard]] FailureExplained read_only_database(const std::filesystem::path& dir);
// Can this process change the database in `dir` (the folder and its cert9.db, key4.db and
// pkcs11.txt writable: access(2), so a read-only mount counts, and root's bypass of permissions)?
[[nodiscard]] bool database_writable(const std::filesystem::path& dir);
// A folder that could not be made (std::filesystem's error, whose reason is the C library's
// English text), explained in a translated sentence with the fix.
[[nodiscard]] FailureExplained explain_failure(const std::filesystem::filesystem_error& failure);

// Is `a` the same file as `b` (after resolving symbolic links; false if either is missing)?
[[nodiscard]] bool same_file(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace jpki::cli
