#include "crypto/random.hpp"

#include "crypto/error.hpp"

#include <openssl/rand.h>

namespace jpki::crypto {

Bytes random_bytes(Context& context, std::size_t count) {
    Bytes out(count);
    if (count != 0 && RAND_bytes_ex(context.libctx(), out.data(), count, 0) != 1)
        throw Error("RAND_bytes_ex");
    return out;
}

}  // namespace jpki::crypto
