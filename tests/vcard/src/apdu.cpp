#include "apdu.hpp"

namespace jpki::vcard {

namespace {

std::optional<Command> parse_extended(std::span<const std::uint8_t> apdu, Command c) {
    const auto u16 = [&](std::size_t at) { return (std::size_t{apdu[at]} << 8) | apdu[at + 1]; };
    const auto le_of = [](std::size_t v) -> std::size_t { return v == 0 ? 65536 : v; };
    if (apdu.size() == 7) {
        c.le = le_of(u16(5));  // case 2E
        return c;
    }
    const std::size_t lc = u16(5);
    if (lc == 0) return std::nullopt;
    if (7 + lc == apdu.size()) {
        c.data = apdu.subspan(7, lc);  // case 3E
        return c;
    }
    if (7 + lc + 2 == apdu.size()) {
        c.data = apdu.subspan(7, lc);  // case 4E
        c.le = le_of(u16(7 + lc));
        return c;
    }
    return std::nullopt;
}

}  // namespace

std::optional<Command> parse_command(std::span<const std::uint8_t> apdu, bool extended) {
    if (apdu.size() < 4) {
        return std::nullopt;
    }
    Command c{apdu[0], apdu[1], apdu[2], apdu[3], {}, std::nullopt};
    if (apdu.size() == 4) {
        return c;  // case 1
    }
    const auto le_of = [](std::uint8_t b) -> std::size_t { return b == 0 ? 256 : b; };
    if (apdu.size() == 5) {
        c.le = le_of(apdu[4]);  // case 2
        return c;
    }
    const std::size_t lc = apdu[4];
    if (lc == 0) {
        // Extended length: only a card with CardConfig::extended_apdu reads it.
        if (!extended || apdu.size() < 7) return std::nullopt;
        return parse_extended(apdu, c);
    }
    if (5 + lc == apdu.size()) {
        c.data = apdu.subspan(5, lc);  // case 3
        return c;
    }
    if (5 + lc + 1 == apdu.size()) {
        c.data = apdu.subspan(5, lc);  // case 4
        c.le = le_of(apdu.back());
        return c;
    }
    return std::nullopt;
}

Bytes status(std::uint16_t sw) {
    return {static_cast<std::uint8_t>(sw >> 8), static_cast<std::uint8_t>(sw & 0xFF)};
}

Bytes response(std::span<const std::uint8_t> data, std::uint16_t sw) {
    Bytes out(data.begin(), data.end());
    out.push_back(static_cast<std::uint8_t>(sw >> 8));
    out.push_back(static_cast<std::uint8_t>(sw & 0xFF));
    return out;
}

}  // namespace jpki::vcard
