#include "vpcd_client.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <optional>
#include <utility>

namespace jpki::vcard {
namespace {

class Socket {
public:
    explicit Socket(int fd) : fd_(fd) {}
    Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Socket& operator=(Socket&&) = delete;
    ~Socket() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }

private:
    int fd_;
};

enum class Outcome { Done, Stopped, Disconnected };

// Waits until `fd` is readable; Stopped when stop_fd is readable first, Done on timeout too.
Outcome wait_readable(int fd, int stop_fd, int timeout_ms) {
    pollfd fds[2] = {{stop_fd, POLLIN, 0}, {fd, POLLIN, 0}};
    const nfds_t count = fd >= 0 ? 2 : 1;
    for (;;) {
        const int n = ::poll(fds, count, timeout_ms);
        if (n < 0 && errno == EINTR) continue;  // the handler wrote to stop_fd; poll again
        if (n < 0) return Outcome::Disconnected;
        if (fds[0].revents != 0) return Outcome::Stopped;
        return Outcome::Done;
    }
}

std::optional<Socket> connect_to(const std::string& host, std::uint16_t port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return std::nullopt;
    std::optional<Socket> result;
    for (addrinfo* ai = found; ai != nullptr && !result; ai = ai->ai_next) {
        Socket s(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
        if (s.get() < 0) continue;
        if (::connect(s.get(), ai->ai_addr, ai->ai_addrlen) != 0) continue;
        // vpcd sends each frame's length and payload in two send()s: without NODELAY here and
        // QUICKACK before every recv, Nagle + delayed ACK cost ~40 ms per APDU (docs/design.md §4).
        const int one = 1;
        ::setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        result.emplace(std::move(s));
    }
    ::freeaddrinfo(found);
    return result;
}

// Reads exactly `size` bytes; Disconnected on EOF or error.
Outcome read_exact(int fd, int stop_fd, std::uint8_t* out, std::size_t size) {
    std::size_t done = 0;
    while (done < size) {
        const Outcome w = wait_readable(fd, stop_fd, -1);
        if (w != Outcome::Done) return w;
#ifdef TCP_QUICKACK
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);  // the kernel clears it
#endif
        const ssize_t n = ::recv(fd, out + done, size - done, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) return Outcome::Disconnected;
        done += static_cast<std::size_t>(n);
    }
    return Outcome::Done;
}

// One frame: 2-byte big-endian length, then the payload, in a single send().
bool write_frame(int fd, const Bytes& payload) {
    Bytes frame;
    frame.reserve(payload.size() + 2);
    frame.push_back(static_cast<std::uint8_t>(payload.size() >> 8));
    frame.push_back(static_cast<std::uint8_t>(payload.size() & 0xFF));
    frame.insert(frame.end(), payload.begin(), payload.end());
    std::size_t done = 0;
    while (done < frame.size()) {
        const ssize_t n = ::send(fd, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

Outcome serve_connection(Card& card, int fd, int stop_fd) {
    for (;;) {
        std::uint8_t header[2];
        if (const Outcome o = read_exact(fd, stop_fd, header, 2); o != Outcome::Done) return o;
        Bytes payload((std::size_t{header[0]} << 8) | header[1]);
        if (const Outcome o = read_exact(fd, stop_fd, payload.data(), payload.size()); o != Outcome::Done) {
            return o;
        }
        if (payload.empty()) continue;
        if (payload.size() == 1) {
            // Control messages; only "get ATR" is answered.
            switch (payload[0]) {
            case 0x00: card.power_off(); break;
            case 0x01: card.power_on(); break;
            case 0x02: card.reset(); break;
            case 0x04:
                if (!write_frame(fd, card.atr())) return Outcome::Disconnected;
                break;
            default: break;  // unknown control: ignored, as vpcd expects no answer
            }
            continue;
        }
        // A reader without extended APDUs (--reader-extended off). vpcd cannot fail one transmit
        // with the card staying in: an empty answer leaves it waiting for bytes, a closed socket
        // is a removal. So the "reader" answers one byte, which no card can (no status word):
        // SCardTransmit hands it over and the module's transport fails the exchange, as it does
        // when a short-APDU CCID reader fails it (SCARD_E_NOT_TRANSACTED).
        const Bytes answer = card.reader_refuses(payload) ? Bytes{0x00} : card.process(payload);
        if (!write_frame(fd, answer)) return Outcome::Disconnected;
    }
}

}  // namespace

void serve_vpcd(Card& card, const std::string& host, std::uint16_t port, int stop_fd) {
    const std::string where = host + ":" + std::to_string(port);
    for (;;) {
        std::optional<Socket> socket = connect_to(host, port);
        if (!socket) {
            // The card "stays inserted" while we run: keep knocking until vpcd listens.
            if (wait_readable(-1, stop_fd, 200) == Outcome::Stopped) return;
            continue;
        }
        std::fprintf(stderr, "jpki-vcard: connected to vpcd at %s\n", where.c_str());
        const Outcome o = serve_connection(card, socket->get(), stop_fd);
        card.power_off();  // a vpcd disconnect is a power-off; PINs and counters stay
        if (o == Outcome::Stopped) return;
        std::fprintf(stderr, "jpki-vcard: disconnected from vpcd at %s, reconnecting\n", where.c_str());
        if (wait_readable(-1, stop_fd, 200) == Outcome::Stopped) return;
    }
}

}  // namespace jpki::vcard
