// Random bytes from the private library context's DRBG (C_GenerateRandom when the card's GET
// CHALLENGE is not used, nonces in tests).
#pragma once

#include "crypto/bytes.hpp"
#include "crypto/context.hpp"

#include <cstddef>

namespace jpki::crypto {

// Throws crypto::Error when the DRBG fails.
[[nodiscard]] Bytes random_bytes(Context& context, std::size_t count);

}  // namespace jpki::crypto
