#include "transport/scard.hpp"

#include "transport/pcsc_error.hpp"

namespace jpki::transport {

ScardContext ScardContext::establish() {
    SCARDCONTEXT handle = 0;
    check_pcsc(SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &handle),
               "SCardEstablishContext");
    return ScardContext(handle);
}

void ScardContext::release() noexcept {
    if (valid_) (void)SCardReleaseContext(handle_);
    valid_ = false;
}

void ScardHandle::disconnect() noexcept {
    if (valid_) (void)SCardDisconnect(handle_, SCARD_LEAVE_CARD);
    valid_ = false;
}

}  // namespace jpki::transport
