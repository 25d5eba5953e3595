// jpki-vcard against a stand-in vpcd: a TCP server on 127.0.0.1 in the test, no pcscd needed.
#include "helpers.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

using namespace vt;
using namespace std::chrono_literals;

namespace {

class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        reset();
        fd_ = std::exchange(o.fd_, -1);
        return *this;
    }
    ~Fd() { reset(); }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    int get() const { return fd_; }

private:
    int fd_;
};

// The child process; killed and reaped if a test fails before it exits.
class Child {
public:
    Child(const std::vector<std::string>& args, const std::string& out_file, const std::string& err_file) {
        std::vector<std::string> argv_strings = {JPKI_VCARD_EXE};
        argv_strings.insert(argv_strings.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& s : argv_strings) argv.push_back(s.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        REQUIRE(rc == 0);
    }
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    void signal(int sig) { ::kill(pid_, sig); }
    // Exit status, or nullopt when it did not exit normally within `timeout`.
    std::optional<int> wait(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                if (WIFEXITED(status)) return WEXITSTATUS(status);
                return std::nullopt;
            }
            std::this_thread::sleep_for(10ms);
        }
        return std::nullopt;
    }

private:
    pid_t pid_ = -1;
};

// Plays vpcd: listens on 127.0.0.1, the card connects to it.
class FakeVpcd {
public:
    explicit FakeVpcd(std::uint16_t port = 0) : listener_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        REQUIRE(listener_.get() >= 0);
        const int one = 1;
        ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(port);
        REQUIRE(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(listener_.get(), 1) == 0);
        socklen_t len = sizeof addr;
        REQUIRE(::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        port_ = ntohs(addr.sin_port);
    }
    std::uint16_t port() const { return port_; }
    std::string where() const { return "127.0.0.1:" + std::to_string(port_); }

    void accept_card(std::chrono::milliseconds timeout = 10s) {
        pollfd p{listener_.get(), POLLIN, 0};
        REQUIRE(::poll(&p, 1, static_cast<int>(timeout.count())) == 1);
        conn_ = Fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        REQUIRE(conn_.get() >= 0);
    }
    void drop() { conn_.reset(); }

    // Like Debian's vpcd: length and payload in two writes.
    void send_frame(const Bytes& payload) {
        const std::uint8_t header[2] = {static_cast<std::uint8_t>(payload.size() >> 8),
                                        static_cast<std::uint8_t>(payload.size())};
        REQUIRE(::send(conn_.get(), header, 2, MSG_NOSIGNAL) == 2);
        REQUIRE(::send(conn_.get(), payload.data(), payload.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(payload.size()));
    }
    Bytes receive_frame() {
        std::uint8_t header[2];
        read_exact(header, 2);
        Bytes payload((std::size_t{header[0]} << 8) | header[1]);
        read_exact(payload.data(), payload.size());
        return payload;
    }
    Bytes exchange(const Bytes& apdu) {
        send_frame(apdu);
        return receive_frame();
    }
    // After a control message that has no answer, nothing must arrive.
    bool silent_for(std::chrono::milliseconds t) {
        pollfd p{conn_.get(), POLLIN, 0};
        return ::poll(&p, 1, static_cast<int>(t.count())) == 0;
    }

private:
    void read_exact(std::uint8_t* out, std::size_t n) {
        std::size_t done = 0;
        while (done < n) {
            pollfd p{conn_.get(), POLLIN, 0};
            REQUIRE(::poll(&p, 1, 10000) == 1);
            const ssize_t got = ::recv(conn_.get(), out + done, n - done, 0);
            REQUIRE(got > 0);
            done += static_cast<std::size_t>(got);
        }
    }

    Fd listener_;
    Fd conn_;
    std::uint16_t port_ = 0;
};

}  // namespace

TEST_CASE("jpki-vcard --help prints the usage and exits 0", "[vpcd]") {
    TempDir dir;
    Child child({"--help"}, dir.file("out"), dir.file("err"));
    CHECK(child.wait(10s) == 0);
    CHECK(slurp(dir.file("out")).find("--vpcd HOST:PORT") != std::string::npos);
}

TEST_CASE("jpki-vcard refuses bad options with a message and exit status 2", "[vpcd]") {
    const std::vector<std::vector<std::string>> bad = {
        {"--bogus"}, {"--auth-pin", "12345"}, {"--sign-pin", "abc123"}, {"--auth-tries", "4"},
        {"--sign-tries", "x"}, {"--atr", "3BZ"}, {"--vpcd", "nohost"}, {"--vpcd", "h:70000"},
        {"--apdu-latency-ms"}, {"--pss=1"}, {"--hostile", "evil"}, {"--hostile-percent", "101"},
        {"--hostile-seed", "-1"}, {"--extended-apdu", "yes"}, {"--short-ef-id"}, {"--reader-extended", "1"}};
    for (const auto& args : bad) {
        INFO(args[0]);
        TempDir dir;
        Child child(args, dir.file("out"), dir.file("err"));
        CHECK(child.wait(10s) == 2);
        const std::string err = slurp(dir.file("err"));
        CHECK(err.find("jpki-vcard: ") == 0);
        CHECK(err.find(args[0].substr(0, args[0].find('='))) != std::string::npos);
    }
}

TEST_CASE("jpki-vcard answers vpcd control and APDU frames and exits 0 on SIGTERM", "[vpcd]") {
    TempDir dir;
    FakeVpcd vpcd;
    Child child({"--vpcd", vpcd.where(), "--trace", dir.file("trace"), "--atr", "3B:DA:13:FF"},
                dir.file("out"), dir.file("err"));
    vpcd.accept_card();
    CHECK(vpcd.exchange({0x04}) == h("3BDA13FF"));  // get ATR
    vpcd.send_frame({0x01});                         // power on: no answer
    CHECK(vpcd.silent_for(100ms));
    CHECK(vpcd.exchange(select_jpki()) == h("9000"));
    CHECK(vpcd.exchange(select_ef(ef_availability)) == h("9000"));
    CHECK(vpcd.exchange(read_binary(0, 0)) == h("8F8F009000"));
    CHECK(vpcd.exchange(h("00A404")) == h("6700"));  // 1 byte would be a control message
    vpcd.send_frame({0x02});  // reset: no answer, the ISD is selected again
    CHECK(vpcd.exchange(select_ef(ef_availability)) == h("6A82"));
    const Bytes cert = vpcd.exchange(h("00B0000000"));
    CHECK(sw(cert) == 0x6986);
    child.signal(SIGTERM);
    CHECK(child.wait(10s) == 0);
    const std::string trace = slurp(dir.file("trace"));
    CHECK(trace.find("# power on\n00A4040C0AD392F000260100000001 9000\n") != std::string::npos);
    CHECK(trace.find("# reset\n") != std::string::npos);
    CHECK(slurp(dir.file("err")).find("connected to vpcd at " + vpcd.where()) != std::string::npos);
}

TEST_CASE("jpki-vcard --extended-apdu, --short-ef-id and --reader-extended", "[vpcd][extended]") {
    TempDir dir;
    SECTION("all on (the default): the whole file by short EF identifier") {
        FakeVpcd vpcd;
        Child child({"--vpcd", vpcd.where()}, dir.file("out"), dir.file("err"));
        vpcd.accept_card();
        CHECK(vpcd.exchange(select_jpki()) == h("9000"));
        const Bytes whole = vpcd.exchange(h("00B08A00000000"));
        CHECK(sw(whole) == 0x9000);
        CHECK(body(whole).size() > 256);
        child.signal(SIGTERM);
        CHECK(child.wait(10s) == 0);
    }
    SECTION("off: 6700, 6A86, and no answer at all from the reader") {
        FakeVpcd vpcd;
        Child child({"--vpcd", vpcd.where(), "--extended-apdu", "off", "--short-ef-id", "off", "--trace",
                     dir.file("trace")},
                    dir.file("out"), dir.file("err"));
        vpcd.accept_card();
        CHECK(vpcd.exchange(select_jpki()) == h("9000"));
        CHECK(vpcd.exchange(h("00B08A00000000")) == h("6700"));
        CHECK(vpcd.exchange(h("00B08A0004")) == h("6A86"));
        child.signal(SIGTERM);
        CHECK(child.wait(10s) == 0);
        CHECK(slurp(dir.file("trace")).find("00B08A00000000 6700\n") != std::string::npos);
    }
    SECTION("--reader-extended off: a one-byte answer, no status word: a failed exchange") {
        FakeVpcd vpcd;
        Child child({"--vpcd", vpcd.where(), "--reader-extended", "off", "--trace", dir.file("trace")},
                    dir.file("out"), dir.file("err"));
        vpcd.accept_card();
        CHECK(vpcd.exchange(select_jpki()) == h("9000"));
        CHECK(vpcd.exchange(h("00B08A00000000")) == h("00"));
        CHECK(vpcd.exchange(h("00B08A0004")) != Bytes{});  // short ones pass
        child.signal(SIGTERM);
        CHECK(child.wait(10s) == 0);
        const std::string trace = slurp(dir.file("trace"));
        CHECK(trace.find("# reader refused extended APDU 00B08A00000000\n") != std::string::npos);
        CHECK(trace.find("00B08A00000000 ") == std::string::npos);  // the card never saw it
    }
}

TEST_CASE("jpki-vcard --hostile spoils answers, the same way for the same seed", "[vpcd][hostile]") {
    const auto answers = [](const std::vector<std::string>& hostile) {
        TempDir dir;
        FakeVpcd vpcd;
        std::vector<std::string> args = {"--vpcd", vpcd.where()};
        args.insert(args.end(), hostile.begin(), hostile.end());
        Child child(args, dir.file("out"), dir.file("err"));
        vpcd.accept_card();
        vpcd.send_frame({0x01});
        std::vector<Bytes> out;
        out.push_back(vpcd.exchange(select_jpki()));
        out.push_back(vpcd.exchange(select_ef(ef_token_info)));
        out.push_back(vpcd.exchange(read_binary(0, 32)));
        child.signal(SIGTERM);
        CHECK(child.wait(10s) == 0);
        return out;
    };
    const auto spoiled = answers({"--hostile", "oversized", "--hostile-percent", "100", "--hostile-seed", "77"});
    REQUIRE(spoiled.size() == 3);
    CHECK(spoiled[0].size() > 2);       // data on a SELECT that has none
    CHECK(spoiled[2].size() > 32 + 2);  // more than Le
    CHECK(answers({"--hostile=oversized", "--hostile-percent=100", "--hostile-seed=77"}) == spoiled);
    const auto honest = answers({});
    CHECK(honest[0] == h("9000"));
    CHECK(honest[2].size() == 32 + 2);
}

TEST_CASE("jpki-vcard reconnects after vpcd drops and the card keeps its counters", "[vpcd]") {
    TempDir dir;
    FakeVpcd vpcd;
    Child child({"--vpcd", vpcd.where()}, dir.file("out"), dir.file("err"));
    vpcd.accept_card();
    vpcd.send_frame({0x01});
    REQUIRE(vpcd.exchange(select_jpki()) == h("9000"));
    REQUIRE(vpcd.exchange(select_ef(ef_auth_pin)) == h("9000"));
    REQUIRE(vpcd.exchange(verify("9999")) == h("63C2"));
    vpcd.drop();
    vpcd.accept_card();  // the card knocks again within ~200 ms
    vpcd.send_frame({0x01});
    CHECK(vpcd.exchange(select_ef(ef_auth_pin)) == h("6A82"));  // the drop was a power-off
    REQUIRE(vpcd.exchange(select_jpki()) == h("9000"));
    REQUIRE(vpcd.exchange(select_ef(ef_auth_pin)) == h("9000"));
    CHECK(vpcd.exchange(verify_empty()) == h("63C2"));
    child.signal(SIGINT);
    CHECK(child.wait(10s) == 0);
    CHECK(slurp(dir.file("err")).find("disconnected") != std::string::npos);
}

TEST_CASE("jpki-vcard keeps retrying until vpcd listens, and exits 0 on SIGTERM meanwhile", "[vpcd]") {
    std::uint16_t port = 0;
    {
        FakeVpcd probe;  // find a free port, then free it
        port = probe.port();
    }
    TempDir dir;
    Child child({"--vpcd", "127.0.0.1:" + std::to_string(port)}, dir.file("out"), dir.file("err"));
    std::this_thread::sleep_for(500ms);  // a few failed attempts
    FakeVpcd vpcd(port);
    vpcd.accept_card(5s);
    CHECK(vpcd.exchange({0x04}) == h("3BE000FF8131FE4514"));
    vpcd.drop();
    std::this_thread::sleep_for(100ms);
    child.signal(SIGTERM);
    CHECK(child.wait(10s) == 0);
}

TEST_CASE("jpki-vcard exits 1 with a message when the PKI files are missing", "[vpcd]") {
    TempDir dir;
    Child child({"--pki-dir", dir.path().string()}, dir.file("out"), dir.file("err"));
    CHECK(child.wait(10s) == 1);
    CHECK(slurp(dir.file("err")).find("auth-cert.der") != std::string::npos);
}
