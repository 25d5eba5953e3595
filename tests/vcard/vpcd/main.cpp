// jpki-vcard: the virtual My Number Card as a vpcd client, so the real pcscd serves it as the
// reader "Virtual PCD 00 00" (docs/design.md §4).
#include "options.hpp"
#include "vpcd_client.hpp"

#include <jpki/vcard/card.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <exception>
#include <optional>

namespace {

int stop_pipe[2] = {-1, -1};

extern "C" void on_stop_signal(int) {
    const int saved = errno;
    const char byte = 1;
    [[maybe_unused]] const auto n = ::write(stop_pipe[1], &byte, 1);
    errno = saved;
}

bool install_stop_handlers() {
    if (::pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return false;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocked connect() returns EINTR
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    return ::sigaction(SIGTERM, &sa, nullptr) == 0 && ::sigaction(SIGINT, &sa, nullptr) == 0 &&
           ::sigaction(SIGPIPE, &ignore, nullptr) == 0;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace jpki::vcard;
    Options options;
    try {
        options = parse_options(argc, argv);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "jpki-vcard: %s (see --help)\n", e.what());
        return 2;
    }
    if (options.help) {
        std::fputs(usage_text(), stdout);
        return 0;
    }
    if (!install_stop_handlers()) {
        std::perror("jpki-vcard: signal setup");
        return 1;
    }
    try {
        Card card(options.card);
        serve_vpcd(card, options.vpcd_host, options.vpcd_port, stop_pipe[0]);
    } catch (const std::exception& e) {  // PKI files missing, state file unreadable...
        std::fprintf(stderr, "jpki-vcard: %s\n", e.what());
        return 1;
    }
    return 0;  // Card's destructor has closed (and flushed) the trace
}
