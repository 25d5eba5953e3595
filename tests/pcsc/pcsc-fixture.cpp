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
#include <PCSC/winscard.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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
                 "       pcsc-fixture wait-card TIMEOUT_MS\n");
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

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const std::string command = argv[1];
    if (command == "listen-exec") return listen_exec(argc, argv);
    if (command == "free-port") return free_port();
    if (command == "wait-card") return wait_card(argc, argv);
    return usage();
}
