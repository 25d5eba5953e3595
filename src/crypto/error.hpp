// Errors from the OpenSSL wrapper. OpenSSL reports failures through a per-thread error queue;
// every failure we turn into an exception takes the queue's text with it and leaves the queue
// empty, so an old entry can never be blamed on a later, unrelated call (the host application,
// e.g. Firefox or an OpenSSL provider, shares that queue with us).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace jpki::crypto {

class Error : public std::runtime_error {
public:
    // `what` says which operation failed; the OpenSSL error queue's text is appended and the
    // queue is cleared.
    explicit Error(std::string_view what);
};

// Drops whatever OpenSSL left in this thread's error queue (after an expected failure, such as
// a signature that does not verify).
void clear_errors() noexcept;

}  // namespace jpki::crypto
