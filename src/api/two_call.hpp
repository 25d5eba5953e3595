// The two-call size convention of PKCS#11 2.40 §5.2, written once: a null buffer asks for the
// size; a buffer too small gets CKR_BUFFER_TOO_SMALL *and* the size needed, and the caller's
// operation stays active (the producer is not run, so nothing is consumed).
#pragma once

#include "jpki/pkcs11.hpp"
#include "jpki/transport.hpp"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace jpki::api {

// Byte results whose size is known before they are produced (a signature, random bytes).
template <typename Produce>
CK_RV return_bytes(std::size_t needed, CK_BYTE_PTR out, CK_ULONG_PTR out_len, Produce&& produce) {
    if (out == nullptr) {
        *out_len = static_cast<CK_ULONG>(needed);
        return CKR_OK;
    }
    if (*out_len < needed) {
        *out_len = static_cast<CK_ULONG>(needed);
        return CKR_BUFFER_TOO_SMALL;
    }
    const Bytes result = produce();
    std::copy(result.begin(), result.end(), out);
    *out_len = static_cast<CK_ULONG>(result.size());
    return CKR_OK;
}

// Arrays computed up front (slot lists, mechanism lists).
template <typename T>
CK_RV return_array(const std::vector<T>& items, T* out, CK_ULONG_PTR count) {
    if (out == nullptr) {
        *count = static_cast<CK_ULONG>(items.size());
        return CKR_OK;
    }
    if (*count < items.size()) {
        *count = static_cast<CK_ULONG>(items.size());
        return CKR_BUFFER_TOO_SMALL;
    }
    std::copy(items.begin(), items.end(), out);
    *count = static_cast<CK_ULONG>(items.size());
    return CKR_OK;
}

}  // namespace jpki::api
