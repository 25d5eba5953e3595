// Card: the applet behind one mutex, plus what surrounds it on a real card: power, ATR,
// latency, persistence of counters, and the trace.
#include <jpki/vcard/card.hpp>

#include "applet.hpp"
#include "apdu.hpp"
#include "hostile.hpp"
#include "status_words.hpp"
#include "trace.hpp"

#include <jpki/vcard/pin_format.hpp>

#include <mutex>
#include <stdexcept>
#include <thread>

namespace jpki::vcard {
namespace {

const CardConfig& validated(const CardConfig& c) {
    if (!valid_auth_pin(c.auth_pin)) throw std::invalid_argument("auth PIN must be exactly 4 digits");
    if (!valid_sign_pin(c.sign_pin)) throw std::invalid_argument("sign PIN must be 6-16 of 0-9 A-Z");
    if (c.auth_tries < 0 || c.auth_tries > auth_max_tries) throw std::invalid_argument("auth tries must be 0..3");
    if (c.sign_tries < 0 || c.sign_tries > sign_max_tries) throw std::invalid_argument("sign tries must be 0..5");
    if (c.atr.size() < 2 || c.atr.size() > 33) throw std::invalid_argument("ATR must be 2..33 bytes");
    if (c.apdu_latency.count() < 0 || c.sign_latency.count() < 0) throw std::invalid_argument("negative latency");
    return c;
}

// A state file left by an earlier run wins over the config: a real card remembers.
PersistentState initial_state(const CardConfig& c) {
    if (!c.state_file.empty()) {
        if (auto saved = load_state(c.state_file)) return *saved;
    }
    return {c.auth_pin, c.sign_pin, c.auth_tries, c.sign_tries};
}

}  // namespace

struct Card::Impl {
    explicit Impl(CardConfig c)
        : config(std::move(c)),
          applet(validated(config), load_jpki_files(config), initial_state(config)),
          trace(config.trace_file),
          hostile(config.hostile) {}

    const CardConfig config;  // the applet keeps a reference to it
    mutable std::mutex mutex;
    Applet applet;
    Trace trace;
    Hostile hostile;
};

Card::Card(CardConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Card::~Card() = default;

Bytes Card::power_on() {
    std::lock_guard lock(impl_->mutex);
    impl_->applet.power_cycle();
    impl_->trace.event("power on");
    return impl_->config.atr;
}

void Card::power_off() {
    std::lock_guard lock(impl_->mutex);
    impl_->applet.power_cycle();
    impl_->trace.event("power off");
}

Bytes Card::reset() {
    std::lock_guard lock(impl_->mutex);
    impl_->applet.power_cycle();
    impl_->trace.event("reset");
    return impl_->config.atr;
}

Bytes Card::process(std::span<const std::uint8_t> command) {
    std::lock_guard lock(impl_->mutex);
    if (impl_->config.apdu_latency.count() > 0) std::this_thread::sleep_for(impl_->config.apdu_latency);
    Bytes answer;
    try {
        answer = impl_->applet.process(command);
    } catch (...) {
        // OpenSSL or state-file failure: a card answers, it never goes silent.
        answer = status(sw::no_diagnosis);
    }
    answer = impl_->hostile.spoil(command, std::move(answer));
    // A hostile card may answer fewer than 2 bytes: the trace then shows 0000.
    const auto sw = answer.size() < 2 ? std::uint16_t{0}
                                      : static_cast<std::uint16_t>((answer[answer.size() - 2] << 8) | answer.back());
    impl_->trace.apdu(command, sw);
    return answer;
}

bool Card::reader_refuses(std::span<const std::uint8_t> command) {
    if (impl_->config.reader_extended || !transport::is_extended_length(command)) return false;
    std::lock_guard lock(impl_->mutex);
    impl_->trace.event("reader refused extended APDU " + redacted_command_hex(command));
    return true;
}

Bytes Card::atr() const { return impl_->config.atr; }

const CardConfig& Card::config() const noexcept { return impl_->config; }

int Card::tries_left(Pin which) const {
    std::lock_guard lock(impl_->mutex);
    return impl_->applet.tries_left(which);
}

bool Card::verified(Pin which) const {
    std::lock_guard lock(impl_->mutex);
    return impl_->applet.verified(which);
}

}  // namespace jpki::vcard
