// The card side of the vsmartcard vpcd protocol (docs/design.md §4): a TCP client of the vpcd
// reader driver inside pcscd.
#pragma once

#include <jpki/vcard/card.hpp>

#include <cstdint>
#include <string>

namespace jpki::vcard {

// Connects to host:port and serves `card` until `stop_fd` becomes readable (the signal
// handler's self-pipe). A failed or dropped connection is retried every 200 ms; a drop
// powers the card off, its PINs and counters stay. Prints one line per connect/disconnect.
void serve_vpcd(Card& card, const std::string& host, std::uint16_t port, int stop_fd);

}  // namespace jpki::vcard
