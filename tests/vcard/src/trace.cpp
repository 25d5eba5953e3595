#include "trace.hpp"

#include <jpki/vcard/hex.hpp>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace jpki::vcard {

std::string redacted_command_hex(std::span<const std::uint8_t> command) {
    const bool carries_pin = command.size() > 1 && (command[1] == 0x20 || command[1] == 0x24);
    if (!carries_pin) return to_hex(command);
    // Keep CLA INS P1 P2, and byte 4 only when it is a plausible Lc/Le rather than a PIN
    // character of a command sent without its Lc.
    std::size_t keep = std::min<std::size_t>(command.size(), 4);
    if (command.size() == 5 || (command.size() > 5 && command[4] == command.size() - 5)) keep = 5;
    std::string out = to_hex(command.first(keep));
    for (std::size_t i = keep; i < command.size(); ++i) out += "**";
    return out;
}

Trace::Trace(const std::string& path) {
    if (path.empty()) return;
    out_.open(path, std::ios::out | std::ios::app);
    if (!out_) throw std::runtime_error("cannot open trace file " + path);
    enabled_ = true;
}

void Trace::apdu(std::span<const std::uint8_t> command, std::uint16_t sw) {
    if (!enabled_) return;
    char sw_text[8];
    std::snprintf(sw_text, sizeof sw_text, "%04X", static_cast<unsigned>(sw));
    write_line(redacted_command_hex(command) + " " + sw_text);
}

void Trace::event(std::string_view what) {
    if (!enabled_) return;
    write_line("# " + std::string(what));
}

void Trace::write_line(const std::string& line) {
    out_ << line << '\n';
    out_.flush();  // readers (tests, benchmarks) look at the file while the card runs
}

}  // namespace jpki::vcard
