#include "state_file.hpp"

#include <jpki/vcard/config.hpp>
#include <jpki/vcard/pin_format.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <utility>

namespace jpki::vcard {
namespace {

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

private:
    int fd_;
};

int parse_tries(const std::string& path, const std::string& value, int max) {
    int n = -1;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc{} || end != value.data() + value.size() || n < 0 || n > max) {
        throw std::runtime_error(path + ": bad retry counter '" + value + "'");
    }
    return n;
}

}  // namespace

std::optional<PersistentState> load_state(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT) return std::nullopt;
        throw std::runtime_error("cannot open state file " + path + ": " + std::strerror(errno));
    }
    PersistentState state;
    bool seen[4] = {false, false, false, false};
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        const auto eq = line.find('=');
        if (eq == std::string::npos) throw std::runtime_error(path + ": line without '='");
        const std::string key = line.substr(0, eq);
        const std::string value = line.substr(eq + 1);
        if (key == "auth_pin") {
            if (!valid_auth_pin(value)) throw std::runtime_error(path + ": bad auth_pin");
            state.auth_pin = value;
            seen[0] = true;
        } else if (key == "sign_pin") {
            if (!valid_sign_pin(value)) throw std::runtime_error(path + ": bad sign_pin");
            state.sign_pin = value;
            seen[1] = true;
        } else if (key == "auth_tries") {
            state.auth_tries = parse_tries(path, value, auth_max_tries);
            seen[2] = true;
        } else if (key == "sign_tries") {
            state.sign_tries = parse_tries(path, value, sign_max_tries);
            seen[3] = true;
        } else {
            throw std::runtime_error(path + ": unknown key '" + key + "'");
        }
    }
    if (in.bad()) throw std::runtime_error("cannot read state file " + path);
    for (const bool s : seen) {
        if (!s) throw std::runtime_error(path + ": incomplete state file");
    }
    return state;
}

void save_state(const std::string& path, const PersistentState& state) {
    const std::string text = "# jpki-vcard card state: PINs and retry counters\n"
                             "auth_pin=" + state.auth_pin + "\n" +
                             "sign_pin=" + state.sign_pin + "\n" +
                             "auth_tries=" + std::to_string(state.auth_tries) + "\n" +
                             "sign_tries=" + std::to_string(state.sign_tries) + "\n";
    const std::string temp = path + ".tmp";
    Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
        throw std::runtime_error("cannot write " + temp + ": " + std::strerror(errno));
    }
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw std::runtime_error("cannot write " + temp + ": " + std::strerror(errno));
        done += static_cast<std::size_t>(n);
    }
    if (::close(fd.release()) != 0) {
        throw std::runtime_error("cannot write " + temp + ": " + std::strerror(errno));
    }
    if (std::rename(temp.c_str(), path.c_str()) != 0) {
        throw std::runtime_error("cannot rename " + temp + " to " + path + ": " +
                                 std::strerror(errno));
    }
}

}  // namespace jpki::vcard
