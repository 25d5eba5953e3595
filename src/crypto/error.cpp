#include "crypto/error.hpp"

#include <openssl/err.h>

namespace jpki::crypto {
namespace {

// Reads and empties the calling thread's OpenSSL error queue: "; "-separated entries.
std::string drain_error_queue() {
    std::string text;
    const char* data = nullptr;
    int flags = 0;
    unsigned long code = 0;
    while ((code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
        char buffer[256];
        ERR_error_string_n(code, buffer, sizeof buffer);
        if (!text.empty()) text += "; ";
        text += buffer;
        if (data != nullptr && (flags & ERR_TXT_STRING) != 0 && *data != '\0') {
            text += " (";
            text += data;
            text += ")";
        }
    }
    return text;
}

std::string with_queue(std::string_view what) {
    std::string message(what);
    const std::string queue = drain_error_queue();
    if (!queue.empty()) message += ": " + queue;
    return message;
}

}  // namespace

Error::Error(std::string_view what) : std::runtime_error(with_queue(what)) {}

void clear_errors() noexcept { ERR_clear_error(); }

}  // namespace jpki::crypto
