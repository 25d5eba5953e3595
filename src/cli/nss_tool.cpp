// NSS's tools run as child processes (nss_tool.hpp).
#include "cli/nss_tool.hpp"

#include "cli/i18n.hpp"
#include "cli/programs.hpp"

#include <elf.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace jpki::cli {

namespace {

// Closes a file descriptor on every path.
class Fd {
public:
    explicit Fd(int fd = -1) noexcept : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&&) = delete;
    Fd& operator=(Fd&&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_;
};

std::string first_line(const std::string& text) {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line))
        if (line.find_first_not_of(" \t\r") != std::string::npos) return line;
    return {};
}

std::string sql(const std::filesystem::path& dir) { return "sql:" + dir.string(); }

// Runs an NSS tool, its failure as ToolFailed.
void run_nss(const std::vector<std::string>& argv) {
    const auto run = run_tool(argv);
    if (!run) throw ToolMissing(argv.front());
    if (run->status != 0) throw ToolFailed(first_line(run->output), run->output);
}

// The ELF identification and header start of `path` (EI_NIDENT bytes, then e_type and e_machine,
// whose offsets 16 and 18 are the same for 32- and 64-bit files); nullopt when shorter.
std::optional<std::array<unsigned char, 20>> elf_start(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::array<unsigned char, 20> bytes{};
    if (!in.read(reinterpret_cast<char*>(bytes.data()), bytes.size())) return std::nullopt;  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast): istream reads char
    return bytes;
}

// A 16-bit field of an ELF header in the file's own byte order.
unsigned elf_half(const std::array<unsigned char, 20>& bytes, std::size_t at) {
    return bytes[EI_DATA] == ELFDATA2MSB ? (bytes[at] << 8U) | bytes[at + 1] : bytes[at] | (bytes[at + 1] << 8U);
}

// A word for a shell command line: single-quoted unless plain.
std::string shell_word(const std::string& text) {
    if (!text.empty() && text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._-+~") == std::string::npos)
        return text;
    std::string quoted = "'";
    for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

// A path as the holder types it: "~/..." for the home folder (unquoted: the shell expands ~).
std::string shell_path(const std::filesystem::path& path) {
    const std::string shown = tilde(path);
    if (shown.starts_with("~/")) return "~/" + shell_word(shown.substr(2));
    return shell_word(shown);
}

}  // namespace

std::string module_file_problem(const std::filesystem::path& path) {
    std::error_code error;
    const auto status = std::filesystem::status(path, error);
    if (std::filesystem::is_directory(status)) return tr("it is a folder");
    if (!std::filesystem::is_regular_file(status)) return tr("it is not a regular file");
    if (::access(path.c_str(), R_OK) != 0) return msg(tr("it cannot be read: {}"), std::strerror(errno));
    const auto file = elf_start(path);
    if (!file || std::memcmp(file->data(), ELFMAG, SELFMAG) != 0) return tr("it is not an ELF shared library");
    const auto self = elf_start("/proc/self/exe");
    if (self && ((*file)[EI_CLASS] != (*self)[EI_CLASS] || (*file)[EI_DATA] != (*self)[EI_DATA] ||
                 elf_half(*file, 18) != elf_half(*self, 18)))
        return tr("it is built for another kind of computer");
    if (elf_half(*file, 16) != ET_DYN) return tr("it is not an ELF shared library");
    return {};
}

FailureExplained read_only_database(const std::filesystem::path& dir) {
    return {msg(tr("the database in {} cannot be written (read-only: the folder or its files belong to another user, "
                   "or have no write permission)"),
                tilde(dir)),
            msg(tr("check the owner and permissions: ls -ld {0} {0}/*.db; if they are not yours: sudo chown -R $USER {0}"), shell_path(dir))};
}

bool database_writable(const std::filesystem::path& dir) {
    if (::access(dir.c_str(), W_OK) != 0) return false;
    for (const char* name : {"cert9.db", "key4.db", "pkcs11.txt"}) {
        const auto file = dir / name;
        if (::access(file.c_str(), F_OK) == 0 && ::access(file.c_str(), W_OK) != 0) return false;
    }
    return true;
}

FailureExplained explain_failure(const ToolFailed& failure, const std::filesystem::path& dir) {
    const std::string& output = failure.output().empty() ? std::string(failure.what()) : failure.output();
    const std::string folder = shell_path(dir);
    if (output.find("SEC_ERROR_READ_ONLY") != std::string::npos) return read_only_database(dir);
    if (output.find("SEC_ERROR_BAD_DATABASE") != std::string::npos)
        return {msg(tr("the database in {} is damaged (NSS cannot read it)"), tilde(dir)),
                msg(tr("move the damaged files aside: mv {0}/cert9.db {0}/cert9.db.broken && mv {0}/key4.db {0}/key4.db.broken, "
                       "then start the program once (it makes new ones) and run jpki setup again; certificates imported "
                       "into the old database must be imported again"),
                    folder)};
    std::string said = first_line(output);
    // modutil -add: 'ERROR: Failed to add module "X". Probable cause : "...".' — the cause is the news.
    if (const auto cause = said.find("Probable cause : \""); cause != std::string::npos) {
        said.erase(0, cause + std::string_view("Probable cause : \"").size());
        if (said.ends_with("\".")) said.erase(said.size() - 2);
    }
    return {msg(tr("the NSS tool reported: {}"), said), {}};
}

FailureExplained explain_failure(const std::filesystem::filesystem_error& failure) {
    const std::string path = tilde(failure.path1());
    std::string parents;
    for (std::filesystem::path p = failure.path1(); !p.empty() && p != p.parent_path() && p != home_dir(); p = p.parent_path())
        parents.insert(0, shell_path(p) + (parents.empty() ? "" : " "));
    return {msg(tr("the folder {0} cannot be made (the system says: {1})"), path, failure.code().message()),
            msg(tr("check each part of the path (one of them may be a file, or belong to another user): ls -ld {}"), parents)};
}

std::optional<ToolRun> run_tool(const std::vector<std::string>& argv) {
    std::array<int, 2> ends{};
    if (::pipe2(ends.data(), O_CLOEXEC) != 0) return ToolRun{-1, "pipe failed"};
    Fd read_end(ends[0]);
    Fd write_end(ends[1]);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& word : argv) args.push_back(const_cast<char*>(word.c_str()));  // NOLINT(cppcoreguidelines-pro-type-const-cast): posix_spawn's signature
    args.push_back(nullptr);
    // Nothing between init and destroy can throw.
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    pid_t pid = 0;
    const int spawned = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    write_end.reset();
    if (spawned == ENOENT) return std::nullopt;
    if (spawned != 0) return ToolRun{-1, "could not start " + argv.front()};
    ToolRun result;
    std::array<char, 4096> buffer{};
    for (;;) {
        const ssize_t n = ::read(read_end.get(), buffer.data(), buffer.size());
        if (n > 0) {
            result.output.append(buffer.data(), static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            break;
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

bool has_nss_database(const std::filesystem::path& dir) {
    std::error_code ignored;
    return std::filesystem::is_regular_file(dir / "cert9.db", ignored);
}

std::vector<NssModule> list_modules(const std::filesystem::path& dir) {
    const auto run = run_tool({"modutil", "-dbdir", sql(dir), "-list"});
    if (!run) throw ToolMissing("modutil");
    if (run->status != 0) throw ToolFailed(first_line(run->output), run->output);
    // "  2. My Number Card (JPKI)" starts a module; "\tlibrary name: /path" follows.
    std::vector<NssModule> modules;
    std::istringstream lines(run->output);
    std::string line;
    while (std::getline(lines, line)) {
        const auto start = line.find_first_not_of(' ');
        if (start != std::string::npos && start > 0 && line[0] == ' ' && std::isdigit(static_cast<unsigned char>(line[start])) != 0) {
            const auto dot = line.find(". ", start);
            if (dot != std::string::npos && line.find_first_not_of("0123456789", start) == dot) {
                modules.push_back({line.substr(dot + 2), {}});
                continue;
            }
        }
        const auto label = line.find("library name: ");
        if (label != std::string::npos && !modules.empty())
            modules.back().library = line.substr(label + std::string_view("library name: ").size());
    }
    return modules;
}

void add_module(const std::filesystem::path& dir, const std::string& name, const std::filesystem::path& library) {
    run_nss({"modutil", "-dbdir", sql(dir), "-add", name, "-libfile", library.string(), "-force"});
}

void delete_module(const std::filesystem::path& dir, const std::string& name) {
    run_nss({"modutil", "-dbdir", sql(dir), "-delete", name, "-force"});
}

std::vector<NssCertificate> list_certificates(const std::filesystem::path& dir) {
    const auto run = run_tool({"certutil", "-L", "-d", sql(dir)});
    if (!run) throw ToolMissing("certutil");
    if (run->status != 0) throw ToolFailed(first_line(run->output), run->output);
    // "NICKNAME<spaces>T,C,C"; the header's second line ends in "SSL,S/MIME,JAR/XPI".
    std::vector<NssCertificate> certificates;
    std::istringstream lines(run->output);
    std::string line;
    while (std::getline(lines, line)) {
        const auto end = line.find_last_not_of(" \t\r");
        if (end == std::string::npos) continue;
        const auto space = line.find_last_of(" \t", end);
        if (space == std::string::npos) continue;
        const std::string trust = line.substr(space + 1, end - space);
        if (std::count(trust.begin(), trust.end(), ',') != 2 || trust.find('/') != std::string::npos) continue;
        const auto name_end = line.find_last_not_of(" \t", space);
        if (name_end == std::string::npos) continue;
        certificates.push_back({line.substr(0, name_end + 1), trust});
    }
    return certificates;
}

void add_certificate(const std::filesystem::path& dir, const std::string& nickname, const std::string& trust,
                     const std::filesystem::path& pem_file) {
    run_nss({"certutil", "-A", "-d", sql(dir), "-n", nickname, "-t", trust, "-a", "-i", pem_file.string()});
}

void delete_certificate(const std::filesystem::path& dir, const std::string& nickname) {
    run_nss({"certutil", "-D", "-d", sql(dir), "-n", nickname});
}

void create_nss_database(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
    run_nss({"certutil", "-N", "-d", sql(dir), "--empty-password"});
}

bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
    std::error_code error;
    const bool same = std::filesystem::equivalent(a, b, error);
    return !error && same;
}

}  // namespace jpki::cli
