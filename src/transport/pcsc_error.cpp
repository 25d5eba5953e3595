#include "transport/pcsc_error.hpp"

#include "jpki/transport.hpp"

#include <cstdio>
#include <string>

namespace jpki::transport {

void map_pcsc_error(LONG rv, std::string_view what) {
    char code[24];
    std::snprintf(code, sizeof code, " (0x%08lX)", static_cast<unsigned long>(rv));
    const std::string message = std::string(what) + ": " + pcsc_stringify_error(rv) + code;
    switch (rv) {
        // The card was reset or powered down by another program: security state is gone, the
        // handle works again after SCardReconnect.
        case SCARD_W_RESET_CARD:
        case SCARD_W_UNPOWERED_CARD:
            throw CardReset(message);
        case SCARD_W_REMOVED_CARD:
        case SCARD_E_NO_SMARTCARD:
            throw CardRemoved(message);
        // pcscd went away or restarted (an old context or handle is unknown to the new daemon,
        // and the client library reports a dead socket as NO_SERVICE or COMM_ERROR), or the
        // reader itself was unplugged.
        case SCARD_E_NO_SERVICE:
        case SCARD_E_SERVICE_STOPPED:
        case SCARD_F_COMM_ERROR:
        case SCARD_E_INVALID_HANDLE:
        case SCARD_E_READER_UNAVAILABLE:
        case SCARD_E_UNKNOWN_READER:
        case SCARD_E_NO_READERS_AVAILABLE:
            throw ServiceUnavailable(message);
        case SCARD_E_SHARING_VIOLATION:
            throw CardHeldExclusively(message);
        default:
            throw Error(message);
    }
}

bool pcsc_service_lost(LONG rv) noexcept {
    return rv == SCARD_E_NO_SERVICE || rv == SCARD_E_SERVICE_STOPPED || rv == SCARD_F_COMM_ERROR ||
           rv == SCARD_E_INVALID_HANDLE;
}

}  // namespace jpki::transport
