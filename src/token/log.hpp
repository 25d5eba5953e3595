// The module's log (docs/design.md §3 "Configuration": JPKI_PKCS11_LOG=error|info|debug), to stderr.
// error: card and reader failures; info: every call that answers an error, and why; debug: every
// APDU, with the data of VERIFY and CHANGE REFERENCE DATA shown as ** (a PIN never reaches a log).
#pragma once

#include "jpki/transport.hpp"
#include "token/config.hpp"

#include <memory>
#include <string_view>

namespace jpki::token {

class Logger {
public:
    explicit Logger(LogLevel level) : level_(level) {}
    [[nodiscard]] bool enabled(LogLevel level) const { return level <= level_; }
    void write(LogLevel level, std::string_view message) const;
    void error(std::string_view message) const { write(LogLevel::Error, message); }
    void info(std::string_view message) const { write(LogLevel::Info, message); }
    void debug(std::string_view message) const { write(LogLevel::Debug, message); }

private:
    LogLevel level_;
};

// A transport whose connections log each APDU at debug level (PIN data redacted).
std::unique_ptr<transport::Transport> logging_transport(std::unique_ptr<transport::Transport> inner,
                                                        const Logger& logger);

// The command as hex with the data of VERIFY (INS 20) and CHANGE REFERENCE DATA (INS 24)
// replaced by ** per byte: header and Lc stay, so the log still tells which command it was.
std::string redacted_apdu(std::span<const std::uint8_t> command);

}  // namespace jpki::token
