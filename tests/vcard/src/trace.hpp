// The APDU trace tests and benchmarks read (docs/design.md §4): one line per APDU,
// `COMMANDHEX SW`, with PIN bytes redacted; events as `# ...` lines.
#pragma once

#include <cstdint>
#include <fstream>
#include <span>
#include <string>
#include <string_view>

namespace jpki::vcard {

// The command as hex, with every data byte of VERIFY (INS 20) and CHANGE REFERENCE DATA
// (INS 24) shown as `**`. Malformed ones are redacted too: a PIN must never be written.
std::string redacted_command_hex(std::span<const std::uint8_t> command);

class Trace {
public:
    // Empty path: tracing off. Opens in append mode; throws std::runtime_error on failure.
    explicit Trace(const std::string& path);
    void apdu(std::span<const std::uint8_t> command, std::uint16_t sw);
    void event(std::string_view what);

private:
    void write_line(const std::string& line);
    std::ofstream out_;
    bool enabled_ = false;
};

}  // namespace jpki::vcard
