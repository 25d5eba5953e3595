// Reader enumeration helpers shared by PcscTransport's listing and waiting (internal).
#pragma once

#include <PCSC/winscard.h>

#include <string>
#include <vector>

namespace jpki::transport::detail {

// The PnP pseudo reader: watching it makes SCardGetStatusChange return when a reader is
// plugged in or out (pcsc-lite and Windows both implement it).
inline constexpr const char* pnp_notification = "\\\\?PnP?\\Notification";

// SCardListReaders into names. SCARD_E_NO_READERS_AVAILABLE is returned as is (callers treat it
// as an empty list); other failures likewise; never throws PC/SC errors.
LONG list_readers(SCARDCONTEXT context, std::vector<std::string>& names);

// One SCARD_READERSTATE per name, pointing into `names` (which must outlive the result).
std::vector<SCARD_READERSTATE> make_states(const std::vector<std::string>& names);

}  // namespace jpki::transport::detail
