#include "card/apdu.hpp"

#include "card/errors.hpp"

#include <algorithm>
#include <stdexcept>

namespace jpki::card {
namespace {

void check_bounds(std::size_t data_size, std::optional<std::size_t> le) {
    if (data_size > max_lc) throw std::length_error("APDU data longer than 255 bytes (short Lc)");
    if (le && (*le == 0 || *le > max_le)) throw std::length_error("APDU Le outside 1..256");
}

std::size_t encoded_size(std::size_t data_size, std::optional<std::size_t> le) {
    return 4 + (data_size > 0 ? 1 + data_size : 0) + (le ? 1 : 0);
}

// Writes header, Lc + data (when any), Le (when wanted) into out, which has encoded_size().
void encode_into(std::span<std::uint8_t> out, const CommandHeader& h,
                 std::span<const std::uint8_t> data, std::optional<std::size_t> le) {
    std::size_t i = 0;
    out[i++] = h.cla;
    out[i++] = h.ins;
    out[i++] = h.p1;
    out[i++] = h.p2;
    if (!data.empty()) {
        out[i++] = static_cast<std::uint8_t>(data.size());
        std::ranges::copy(data, out.begin() + static_cast<std::ptrdiff_t>(i));
        i += data.size();
    }
    if (le) out[i] = static_cast<std::uint8_t>(*le == max_le ? 0 : *le);
}

}  // namespace

Bytes build_command(const CommandHeader& header, std::span<const std::uint8_t> data,
                    std::optional<std::size_t> le) {
    check_bounds(data.size(), le);
    Bytes out(encoded_size(data.size(), le));
    encode_into(out, header, data, le);
    return out;
}

SecureBytes build_secret_command(const CommandHeader& header, std::span<const std::uint8_t> data,
                                 std::optional<std::size_t> le) {
    check_bounds(data.size(), le);
    // Allocate zeros first, then write the secret only into the wiped buffer.
    const Bytes zeros(encoded_size(data.size(), le));
    SecureBytes out{std::span<const std::uint8_t>(zeros)};
    encode_into(out.mutable_view(), header, data, le);
    return out;
}

Response parse_response(std::span<const std::uint8_t> raw) {
    if (raw.size() < 2) {
        throw CardError(CardError::Kind::InvalidResponse, 0, "card answer shorter than a status word");
    }
    const std::size_t n = raw.size() - 2;
    Response r;
    r.data.assign(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(n));
    r.sw = static_cast<std::uint16_t>((raw[n] << 8) | raw[n + 1]);
    return r;
}

}  // namespace jpki::card
