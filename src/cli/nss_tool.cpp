// NSS's tools run as child processes (nss_tool.hpp).
#include "cli/nss_tool.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
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
    if (run->status != 0) throw ToolFailed(first_line(run->output));
}

}  // namespace

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
    if (run->status != 0) throw ToolFailed(first_line(run->output));
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
