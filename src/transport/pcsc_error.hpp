// PC/SC return codes -> the transport's exception types (include/jpki/transport.hpp), which the
// module maps to PKCS#11 answers (docs/design.md §3 "Sessions, events, threads").
#pragma once

#include <PCSC/winscard.h>

#include <string_view>

namespace jpki::transport {

// Throws the exception that stands for `rv`, its message naming `what` and PC/SC's own text:
//   SCARD_W_RESET_CARD, SCARD_W_UNPOWERED_CARD                          -> CardReset
//   SCARD_W_REMOVED_CARD, SCARD_E_NO_SMARTCARD                          -> CardRemoved
//   SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED, SCARD_F_COMM_ERROR,
//   SCARD_E_INVALID_HANDLE, SCARD_E_READER_UNAVAILABLE,
//   SCARD_E_UNKNOWN_READER, SCARD_E_NO_READERS_AVAILABLE                -> ServiceUnavailable
//   anything else (SCARD_S_SUCCESS included, which callers never pass)  -> Error
[[noreturn]] void map_pcsc_error(LONG rv, std::string_view what);

// map_pcsc_error unless rv is SCARD_S_SUCCESS.
inline void check_pcsc(LONG rv, std::string_view what) {
    if (rv != SCARD_S_SUCCESS) map_pcsc_error(rv, what);
}

// The codes after which the PC/SC context itself is dead (pcscd stopped or restarted): the cure
// is a new context, not a retry on the old one.
[[nodiscard]] bool pcsc_service_lost(LONG rv) noexcept;

}  // namespace jpki::transport
