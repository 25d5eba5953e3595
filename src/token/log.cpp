#include "token/log.hpp"

#include <unistd.h>

#include <cstdio>
#include <string>

namespace jpki::token {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

std::string hex(std::span<const std::uint8_t> bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const std::uint8_t byte : bytes) {
        out.push_back(kHex[byte >> 4]);
        out.push_back(kHex[byte & 0x0F]);
    }
    return out;
}

class LoggingConnection final : public transport::Connection {
public:
    LoggingConnection(std::unique_ptr<transport::Connection> inner, const Logger& logger)
        : inner_(std::move(inner)), logger_(logger) {}

    Bytes transmit(std::span<const std::uint8_t> command) override {
        logger_.debug("> " + redacted_apdu(command));
        try {
            Bytes response = inner_->transmit(command);
            const std::size_t data = response.size() >= 2 ? response.size() - 2 : 0;
            logger_.debug("< " + hex(std::span(response).subspan(data)) + " (" + std::to_string(data) + " data bytes)");
            return response;
        } catch (const transport::Error& error) {
            logger_.debug(std::string("< ") + error.what());
            throw;
        }
    }
    void begin_transaction() override { inner_->begin_transaction(); }
    void end_transaction() noexcept override { inner_->end_transaction(); }
    void reconnect() override {
        logger_.debug("reconnect");
        inner_->reconnect();
    }
    void reset_card() override {
        logger_.debug("reset card");
        inner_->reset_card();
    }
    [[nodiscard]] Bytes atr() const override { return inner_->atr(); }

private:
    std::unique_ptr<transport::Connection> inner_;
    const Logger& logger_;
};

class LoggingTransport final : public transport::Transport {
public:
    LoggingTransport(std::unique_ptr<transport::Transport> inner, const Logger& logger)
        : inner_(std::move(inner)), logger_(logger) {}

    std::vector<transport::ReaderStatus> readers() override { return inner_->readers(); }
    std::unique_ptr<transport::Connection> connect(const std::string& reader) override {
        logger_.debug("connect to " + reader);
        return std::make_unique<LoggingConnection>(inner_->connect(reader), logger_);
    }
    bool wait_for_change(std::chrono::milliseconds timeout) override { return inner_->wait_for_change(timeout); }
    void cancel_wait() override { inner_->cancel_wait(); }

private:
    std::unique_ptr<transport::Transport> inner_;
    const Logger& logger_;
};

}  // namespace

void Logger::write(LogLevel level, std::string_view message) const {
    if (!enabled(level)) return;
    static constexpr const char* kNames[] = {"error", "info", "debug"};
    // One fprintf per line, so lines from several threads do not interleave.
    std::fprintf(stderr, "jpki-pkcs11[%d] %s: %.*s\n", static_cast<int>(getpid()), kNames[static_cast<int>(level)],
                 static_cast<int>(message.size()), message.data());
}

std::string redacted_apdu(std::span<const std::uint8_t> command) {
    const bool carries_pin = command.size() > 5 && (command[1] == 0x20 || command[1] == 0x24);
    if (!carries_pin) return hex(command);
    return hex(command.first(5)) + std::string(2 * (command.size() - 5), '*');
}

std::unique_ptr<transport::Transport> logging_transport(std::unique_ptr<transport::Transport> inner,
                                                        const Logger& logger) {
    return std::make_unique<LoggingTransport>(std::move(inner), logger);
}

}  // namespace jpki::token
