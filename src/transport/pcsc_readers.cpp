#include "transport/pcsc_readers.hpp"

#include <algorithm>
#include <cstring>

namespace jpki::transport::detail {

LONG list_readers(SCARDCONTEXT context, std::vector<std::string>& names) {
    names.clear();
    // Two calls (size, then data); a reader plugged in between makes the second one report
    // SCARD_E_INSUFFICIENT_BUFFER, so try again a few times.
    LONG rv = SCARD_S_SUCCESS;
    for (int attempt = 0; attempt < 3; ++attempt) {
        DWORD length = 0;
        rv = SCardListReaders(context, nullptr, nullptr, &length);
        if (rv != SCARD_S_SUCCESS) return rv;
        std::string buffer(length, '\0');
        rv = SCardListReaders(context, nullptr, buffer.data(), &length);
        if (rv == SCARD_E_INSUFFICIENT_BUFFER) continue;
        if (rv != SCARD_S_SUCCESS) return rv;
        buffer.resize(std::min<std::size_t>(length, buffer.size()));
        // A multi-string: names separated by NUL, ended by an empty name.
        for (std::size_t pos = 0; pos < buffer.size();) {
            const std::size_t end = buffer.find('\0', pos);
            const std::size_t stop = end == std::string::npos ? buffer.size() : end;
            if (stop == pos) break;
            names.emplace_back(buffer, pos, stop - pos);
            pos = stop + 1;
        }
        return SCARD_S_SUCCESS;
    }
    return rv;
}

std::vector<SCARD_READERSTATE> make_states(const std::vector<std::string>& names) {
    std::vector<SCARD_READERSTATE> states(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
        std::memset(&states[i], 0, sizeof states[i]);
        states[i].szReader = names[i].c_str();
        states[i].dwCurrentState = SCARD_STATE_UNAWARE;
    }
    return states;
}

}  // namespace jpki::transport::detail
