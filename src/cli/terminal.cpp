// Terminal output and secret input for the `jpki` command (terminal.hpp).
#include "cli/terminal.hpp"

#include "cli/cli.hpp"
#include "cli/i18n.hpp"

#include <openssl/crypto.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

namespace jpki::cli {

namespace {

bool colour_output() {
    static const bool on = [] {
        const char* term = std::getenv("TERM");
        // NO_COLOR counts when set and not empty (no-color.org).
        const char* no_colour = std::getenv("NO_COLOR");
        return isatty(STDOUT_FILENO) == 1 && (no_colour == nullptr || *no_colour == '\0') && term != nullptr &&
               std::strcmp(term, "dumb") != 0;
    }();
    return on;
}

// The terminal settings to restore if Ctrl-C arrives while echo is off (async-signal-safe use only).
struct termios saved_termios;
volatile std::sig_atomic_t echo_off = 0;

extern "C" void restore_and_die(int signal_number) {
    if (echo_off != 0) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
    const char newline = '\n';
    (void)!write(STDERR_FILENO, &newline, 1);
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
}

// Echo off for its lifetime (RAII), SIGINT/SIGTERM/SIGHUP restore it.
class EchoOff {
public:
    EchoOff() {
        if (tcgetattr(STDIN_FILENO, &saved_termios) != 0) return;
        struct termios quiet = saved_termios;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        quiet.c_lflag |= ECHONL;
        for (const int s : {SIGINT, SIGTERM, SIGHUP}) std::signal(s, restore_and_die);
        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0) echo_off = 1;
    }
    ~EchoOff() {
        if (echo_off != 0) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
        echo_off = 0;
        for (const int s : {SIGINT, SIGTERM, SIGHUP}) std::signal(s, SIG_DFL);
    }
    EchoOff(const EchoOff&) = delete;
    EchoOff& operator=(const EchoOff&) = delete;
    EchoOff(EchoOff&&) = delete;
    EchoOff& operator=(EchoOff&&) = delete;
};

// One line from standard input into a fixed buffer (never reallocated, wiped by the caller).
// Returns the length kept, or -1 at end of input before any line end or byte.
long read_line(std::span<char> buffer) {
    std::size_t kept = 0;
    bool any = false;
    for (;;) {
        char c = 0;
        const ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return any ? static_cast<long>(kept) : -1;
        any = true;
        if (c == '\n') break;
        if (kept < buffer.size()) buffer[kept++] = c;
    }
    if (kept > 0 && buffer[kept - 1] == '\r') --kept;
    return static_cast<long>(kept);
}

}  // namespace

std::string paint(Colour colour, std::string_view text) {
    if (!colour_output()) return std::string(text);
    const char* start = colour == Colour::Red      ? "\033[1;31m"
                        : colour == Colour::Yellow ? "\033[1;33m"
                        : colour == Colour::Green  ? "\033[32m"
                                                   : "\033[1m";
    return std::string(start) + std::string(text) + "\033[0m";
}

bool stdin_is_terminal() { return isatty(STDIN_FILENO) == 1; }

SecureBytes read_secret(const std::string& prompt) {
    std::array<char, 64> buffer{};
    long length = 0;
    if (stdin_is_terminal()) {
        std::fputs(prompt.c_str(), stderr);
        std::fflush(stderr);
        const EchoOff quiet;
        length = read_line(buffer);
        // Ctrl-D: ECHONL printed no line end, so the message would follow the prompt.
        if (length < 0) std::fputs("\n", stderr);
    } else {
        length = read_line(buffer);
    }
    if (length < 0) {
        OPENSSL_cleanse(buffer.data(), buffer.size());
        throw CliError(ExitCode::Failure, tr("No PIN was entered (end of input)."));
    }
    SecureBytes secret(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(buffer.data()),
                                                     static_cast<std::size_t>(length)));
    OPENSSL_cleanse(buffer.data(), buffer.size());
    return secret;
}

bool confirm(const std::string& question) {
    std::fputs(question.c_str(), stderr);
    std::fputs(" ", stderr);
    std::fputs(tr("[yes/no]"), stderr);
    std::fputs(" ", stderr);
    std::fflush(stderr);
    std::array<char, 32> buffer{};
    const long length = read_line(buffer);
    if (length <= 0) return false;
    std::string answer(buffer.data(), static_cast<std::size_t>(length));
    std::transform(answer.begin(), answer.end(), answer.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });  // ASCII only
    return answer == "yes" || answer == "y" || answer == "はい" || answer == tr("yes");
}

}  // namespace jpki::cli
