// Byte strings as the rest of the module holds them. Same alias as include/jpki/transport.hpp
// (redeclaring an alias to the same type is allowed), so crypto/ needs no transport header.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace jpki {
using Bytes = std::vector<std::uint8_t>;
}  // namespace jpki

namespace jpki::crypto {
using ByteView = std::span<const std::uint8_t>;
}  // namespace jpki::crypto
