// pcsc-fixture: the small jobs with-vcard.sh cannot do in shell.
//
//   pcsc-fixture listen-exec SOCKET -- PROGRAM ARGS...
//       Creates a listening Unix socket at SOCKET and execs PROGRAM with it as fd 3 and
//       LISTEN_FDS=1, LISTEN_PID=<own pid> (systemd socket activation). pcscd 1.9.9 always
//       binds its compiled-in path, but takes a socket handed over this way and then skips its
//       "already running" check: that is how a private pcscd never touches the system's socket.
//   pcsc-fixture free-port
//       Prints a TCP port P such that P and P+1 are free on this machine (vpcd listens on both).
//   pcsc-fixture wait-card TIMEOUT_MS
//       Waits until some reader of the pcscd named by PCSCLITE_CSOCK_NAME holds a card; exit 0
//       when one does, 1 on timeout.
//   pcsc-fixture wait-reader READER present|absent TIMEOUT_MS
//       Waits until READER holds a card (present) or holds none or is gone (absent); 0 / 1.
//   pcsc-fixture wait-service TIMEOUT_MS
//       Waits until pcscd answers (a context can be established and readers listed, even none).
//
// "Another program" for the fault tests (tests/pcsc/faults/): each prints one line on stdout
// once it holds the card ("holding ..."), keeps it for SECONDS or until SIGTERM/SIGINT, then
// lets go (SCARD_LEAVE_CARD), prints "released" and exits 0; 1 when it could not get the card.
//   pcsc-fixture hold-exclusive READER SECONDS
//       SCardConnect with SCARD_SHARE_EXCLUSIVE (retried for up to SECONDS while another
//       handle is connected).
//   pcsc-fixture hold-transaction READER SECONDS
//       Shared connect + SCardBeginTransaction.
//   pcsc-fixture reset READER
//       Shared connect, then SCardDisconnect with SCARD_RESET_CARD; prints "reset".
#include <PCSC/winscard.h>
#include <csignal>
#include <ctime>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

int usage() {
    std::fprintf(stderr,
                 "usage: pcsc-fixture listen-exec SOCKET -- PROGRAM ARGS...\n"
                 "       pcsc-fixture free-port\n"
                 "       pcsc-fixture wait-card TIMEOUT_MS\n"
                 "       pcsc-fixture wait-reader READER present|absent TIMEOUT_MS\n"
                 "       pcsc-fixture wait-service TIMEOUT_MS\n"
                 "       pcsc-fixture hold-exclusive|hold-transaction READER SECONDS\n"
                 "       pcsc-fixture reset READER\n");
    return 2;
}

int listen_exec(int argc, char** argv) {
    if (argc < 5 || std::strcmp(argv[3], "--") != 0) return usage();
    const std::string path = argv[2];
    sockaddr_un address{};
    if (path.size() >= sizeof(address.sun_path)) {
        std::fprintf(stderr, "pcsc-fixture: socket path too long: %s\n", path.c_str());
        return 2;
    }
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        std::perror("pcsc-fixture: socket");
        return 1;
    }
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    unlink(path.c_str());
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        std::perror("pcsc-fixture: bind/listen");
        return 1;
    }
    // sd_listen_fds(3): the first passed socket is fd 3.
    if (fd != 3) {
        if (dup2(fd, 3) < 0) {
            std::perror("pcsc-fixture: dup2");
            return 1;
        }
        close(fd);
    }
    setenv("LISTEN_FDS", "1", 1);
    setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
    execvp(argv[4], argv + 4);
    std::perror("pcsc-fixture: exec");
    return 127;
}

bool tcp_port_free(int port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_ANY);  // vpcd binds 0.0.0.0
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    close(fd);
    return ok;
}

int free_port() {
    std::random_device seed;
    std::mt19937 random(seed());
    std::uniform_int_distribution<int> pick(20000, 59998);
    for (int attempt = 0; attempt < 200; ++attempt) {
        const int port = pick(random);
        if (tcp_port_free(port) && tcp_port_free(port + 1)) {
            std::printf("%d\n", port);
            return 0;
        }
    }
    std::fprintf(stderr, "pcsc-fixture: no free port pair found\n");
    return 1;
}

// A reader list with a card in at least one reader?
bool card_present(SCARDCONTEXT context) {
    DWORD size = 0;
    if (SCardListReaders(context, nullptr, nullptr, &size) != SCARD_S_SUCCESS || size == 0)
        return false;
    std::vector<char> names(size);
    if (SCardListReaders(context, nullptr, names.data(), &size) != SCARD_S_SUCCESS) return false;
    std::vector<SCARD_READERSTATE> states;
    for (const char* name = names.data(); *name != '\0'; name += std::strlen(name) + 1) {
        SCARD_READERSTATE state{};
        state.szReader = name;
        state.dwCurrentState = SCARD_STATE_UNAWARE;
        states.push_back(state);
    }
    if (SCardGetStatusChange(context, 0, states.data(), static_cast<DWORD>(states.size())) !=
        SCARD_S_SUCCESS)
        return false;
    for (const auto& state : states)
        if ((state.dwEventState & SCARD_STATE_PRESENT) != 0) return true;
    return false;
}

int wait_card(int argc, char** argv) {
    if (argc != 3) return usage();
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(std::atol(argv[2]));
    while (std::chrono::steady_clock::now() < deadline) {
        SCARDCONTEXT context = 0;
        if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &context) ==
            SCARD_S_SUCCESS) {
            const bool present = card_present(context);
            SCardReleaseContext(context);
            if (present) return 0;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return 1;
}

// One context for the life of a command.
class Context {
public:
    Context() { rv_ = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &context_); }
    ~Context() {
        if (rv_ == SCARD_S_SUCCESS) SCardReleaseContext(context_);
    }
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;
    [[nodiscard]] bool ok() const { return rv_ == SCARD_S_SUCCESS; }
    [[nodiscard]] LONG rv() const { return rv_; }
    [[nodiscard]] SCARDCONTEXT get() const { return context_; }

private:
    SCARDCONTEXT context_ = 0;
    LONG rv_ = SCARD_E_NO_SERVICE;
};

// 1 present, 0 absent (no card, or no such reader), -1 pcscd unreachable.
int reader_has_card(const std::string& reader) {
    const Context context;
    if (!context.ok()) return -1;
    SCARD_READERSTATE state{};
    state.szReader = reader.c_str();
    state.dwCurrentState = SCARD_STATE_UNAWARE;
    const LONG rv = SCardGetStatusChange(context.get(), 0, &state, 1);
    if (rv == SCARD_E_NO_SERVICE || rv == SCARD_F_COMM_ERROR) return -1;
    if (rv != SCARD_S_SUCCESS) return 0;  // SCARD_E_UNKNOWN_READER: gone, so no card
    return (state.dwEventState & SCARD_STATE_PRESENT) != 0 ? 1 : 0;
}

int wait_reader(int argc, char** argv) {
    if (argc != 5) return usage();
    const std::string reader = argv[2];
    const std::string want = argv[3];
    if (want != "present" && want != "absent") return usage();
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(std::atol(argv[4]));
    do {
        const int has = reader_has_card(reader);
        if (want == "present" ? has == 1 : has == 0) return 0;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < deadline);
    return 1;
}

int wait_service(int argc, char** argv) {
    if (argc != 3) return usage();
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(std::atol(argv[2]));
    do {
        const Context context;
        if (context.ok()) {
            DWORD size = 0;
            const LONG rv = SCardListReaders(context.get(), nullptr, nullptr, &size);
            if (rv == SCARD_S_SUCCESS || rv == SCARD_E_NO_READERS_AVAILABLE) return 0;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < deadline);
    return 1;
}

// Blocks SIGTERM and SIGINT (before any thread exists) so they can be waited for.
sigset_t stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return set;
}

// Waits `seconds` or until SIGTERM/SIGINT.
void hold_for(const sigset_t& signals, long seconds) {
    timespec timeout{};
    timeout.tv_sec = seconds;
    while (sigtimedwait(&signals, nullptr, &timeout) < 0 && errno == EINTR) {
    }
}

int hold(int argc, char** argv, bool exclusive) {
    if (argc != 4) return usage();
    const sigset_t signals = stop_signals();
    const std::string reader = argv[2];
    const long seconds = std::atol(argv[3]);
    const Context context;
    if (!context.ok()) {
        std::fprintf(stderr, "pcsc-fixture: SCardEstablishContext: %s\n", pcsc_stringify_error(context.rv()));
        return 1;
    }
    SCARDHANDLE handle = 0;
    DWORD protocol = 0;
    LONG rv = SCARD_E_SHARING_VIOLATION;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    for (;;) {
        rv = SCardConnect(context.get(), reader.c_str(),
                          exclusive ? SCARD_SHARE_EXCLUSIVE : SCARD_SHARE_SHARED,
                          SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &handle, &protocol);
        if (rv != SCARD_E_SHARING_VIOLATION || std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (rv != SCARD_S_SUCCESS) {
        std::fprintf(stderr, "pcsc-fixture: SCardConnect: %s\n", pcsc_stringify_error(rv));
        return 1;
    }
    if (!exclusive) {
        rv = SCardBeginTransaction(handle);
        if (rv != SCARD_S_SUCCESS) {
            std::fprintf(stderr, "pcsc-fixture: SCardBeginTransaction: %s\n", pcsc_stringify_error(rv));
            SCardDisconnect(handle, SCARD_LEAVE_CARD);
            return 1;
        }
    }
    std::printf("holding %s %s\n", exclusive ? "exclusive" : "transaction", reader.c_str());
    std::fflush(stdout);
    hold_for(signals, seconds);
    if (!exclusive) SCardEndTransaction(handle, SCARD_LEAVE_CARD);
    SCardDisconnect(handle, SCARD_LEAVE_CARD);
    std::printf("released\n");
    std::fflush(stdout);
    return 0;
}

int reset(int argc, char** argv) {
    if (argc != 3) return usage();
    const Context context;
    if (!context.ok()) {
        std::fprintf(stderr, "pcsc-fixture: SCardEstablishContext: %s\n", pcsc_stringify_error(context.rv()));
        return 1;
    }
    SCARDHANDLE handle = 0;
    DWORD protocol = 0;
    LONG rv = SCardConnect(context.get(), argv[2], SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                           &handle, &protocol);
    if (rv == SCARD_S_SUCCESS) rv = SCardDisconnect(handle, SCARD_RESET_CARD);
    if (rv != SCARD_S_SUCCESS) {
        std::fprintf(stderr, "pcsc-fixture: reset: %s\n", pcsc_stringify_error(rv));
        return 1;
    }
    std::printf("reset\n");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const std::string command = argv[1];
    if (command == "listen-exec") return listen_exec(argc, argv);
    if (command == "free-port") return free_port();
    if (command == "wait-card") return wait_card(argc, argv);
    if (command == "wait-reader") return wait_reader(argc, argv);
    if (command == "wait-service") return wait_service(argc, argv);
    if (command == "hold-exclusive") return hold(argc, argv, true);
    if (command == "hold-transaction") return hold(argc, argv, false);
    if (command == "reset") return reset(argc, argv);
    return usage();
}
