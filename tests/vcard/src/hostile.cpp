#include "hostile.hpp"

#include <array>
#include <stdexcept>

namespace jpki::vcard {
namespace {

void set_sw(Bytes& answer, std::uint16_t sw) {
    answer[answer.size() - 2] = static_cast<std::uint8_t>(sw >> 8);
    answer[answer.size() - 1] = static_cast<std::uint8_t>(sw & 0xFF);
}

// The Le a short command asked for (ISO 7816-4 cases 2 and 4), 0 when none; 256 for 00.
std::size_t requested_le(std::span<const std::uint8_t> command) {
    if (command.size() == 5) return command[4] == 0 ? 256 : command[4];
    if (command.size() > 5 && command.size() == 6 + std::size_t{command[4]}) {
        return command.back() == 0 ? 256 : command.back();
    }
    return 0;
}

}  // namespace

HostileMode parse_hostile_mode(const std::string& name) {
    if (name == "off") return HostileMode::Off;
    if (name == "truncated") return HostileMode::Truncated;
    if (name == "oversized") return HostileMode::Oversized;
    if (name == "nonsense") return HostileMode::Nonsense;
    if (name == "wrong-sw") return HostileMode::WrongSw;
    if (name == "random") return HostileMode::Random;
    throw std::invalid_argument("hostile mode must be off, truncated, oversized, nonsense, wrong-sw or random");
}

Hostile::Hostile(const Hostility& hostility) : hostility_(hostility), rng_(hostility.seed) {
    if (hostility.percent < 0 || hostility.percent > 100) throw std::invalid_argument("hostile percent must be 0..100");
}

Bytes Hostile::spoil(std::span<const std::uint8_t> command, Bytes answer) {
    if (hostility_.mode == HostileMode::Off || answer.size() < 2) return answer;
    if (below(100) >= static_cast<std::size_t>(hostility_.percent)) return answer;
    HostileMode mode = hostility_.mode;
    if (mode == HostileMode::Random) {
        static constexpr std::array<HostileMode, 4> modes = {HostileMode::Truncated, HostileMode::Oversized,
                                                             HostileMode::Nonsense, HostileMode::WrongSw};
        mode = modes[below(modes.size())];
    }
    switch (mode) {
    case HostileMode::Truncated: return truncated(std::move(answer));
    case HostileMode::Oversized: return oversized(command, std::move(answer));
    case HostileMode::Nonsense: return nonsense(std::move(answer));
    case HostileMode::WrongSw: return wrong_sw(command, std::move(answer));
    case HostileMode::Off:
    case HostileMode::Random: break;
    }
    return answer;
}

Bytes Hostile::truncated(Bytes answer) {
    const std::size_t data = answer.size() - 2;
    if (data == 0 || below(4) == 0) {
        answer.resize(below(2));  // no status word at all, or half of one
        return answer;
    }
    // Drop 1..data bytes of data, keep the status word: a short read that claims success.
    const std::size_t keep = below(data);
    answer.erase(answer.begin() + static_cast<std::ptrdiff_t>(keep), answer.end() - 2);
    return answer;
}

Bytes Hostile::oversized(std::span<const std::uint8_t> command, Bytes answer) {
    // More than Le asked for: up to 300 bytes past the Le (or past the real data).
    const std::size_t le = requested_le(command);
    const std::size_t data = answer.size() - 2;
    const std::size_t target = std::max(le, data) + 1 + below(300);
    answer.insert(answer.end() - 2, target - data, 0);
    for (std::size_t i = data; i < target; ++i) answer[i] = byte();
    return answer;
}

Bytes Hostile::nonsense(Bytes answer) {
    const std::size_t length = below(4) == 0 ? answer.size() - 2 : below(259);
    Bytes out(length + 2);
    for (std::size_t i = 0; i < length; ++i) out[i] = byte();
    const std::uint16_t sw = static_cast<std::uint16_t>((answer[answer.size() - 2] << 8) | answer.back());
    set_sw(out, below(3) == 0 ? sw : 0x9000);  // mostly "success"
    return out;
}

Bytes Hostile::wrong_sw(std::span<const std::uint8_t> command, Bytes answer) {
    const std::size_t le = requested_le(command);
    switch (below(10)) {
    case 0: set_sw(answer, static_cast<std::uint16_t>(0x6100 | byte())); break;  // "more data": GET RESPONSE loops
    case 1: set_sw(answer, static_cast<std::uint16_t>(0x6C00 | byte())); break;  // "wrong Le, use xx"
    case 2: set_sw(answer, static_cast<std::uint16_t>(0x63C0 | below(16))); break;  // a counter, on any command
    case 3: set_sw(answer, 0x9000); break;  // success on an error, keeping whatever data
    case 4: {  // success with garbage up to Le
        const std::size_t n = le == 0 ? below(8) : below(le + 1);
        Bytes out(n + 2);
        for (std::size_t i = 0; i < n; ++i) out[i] = byte();
        set_sw(out, 0x9000);
        return out;
    }
    case 5: set_sw(answer, 0x6982); break;
    case 6: set_sw(answer, 0x6A82); break;
    case 7: set_sw(answer, 0x6984); break;
    case 8: {
        static constexpr std::array<std::uint16_t, 8> odd = {0x6283, 0x6700, 0x6F00, 0x9001,
                                                             0x0000, 0xFFFF, 0x6581, 0x6A86};
        set_sw(answer, odd[below(odd.size())]);
        break;
    }
    default: set_sw(answer, static_cast<std::uint16_t>((byte() << 8) | byte())); break;
    }
    return answer;
}

}  // namespace jpki::vcard
