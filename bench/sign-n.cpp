// bench-sign-n MODULE [N] [TOKEN-LABEL] [PIN] [KEY-ID-HEX]
//
// The "N signatures after one login" flow of bench/apdu-count.sh, which pkcs11-tool cannot do
// (it signs once per process): dlopen a PKCS#11 module, C_Initialize, find the slot whose token
// label is TOKEN-LABEL (default "JPKI (User Authentication PIN)"), open a session, log in as
// CKU_USER with PIN (default 1234), find the private key with CKA_ID KEY-ID-HEX (default 01),
// then C_Sign N times (default 10) with CKM_SHA256_RSA_PKCS. Prints "OK N signatures" and exits
// 0, or prints the failing call and its CK_RV and exits 1. Usage errors exit 2.
//
// On success it also prints, for bench/apdu-count.sh's "module CPU per signature" (issue 11):
//   cpu_us_per_signature X    this process's CPU time (CLOCK_PROCESS_CPUTIME_ID, user + system,
//                             all threads) over the N C_SignInit + C_Sign pairs, divided by N,
//                             in microseconds. That is the module plus the PC/SC client library;
//                             the card (jpki-vcard) and pcscd run in other processes, so the
//                             card's own RSA time is not in it.
//   wall_us_per_signature X   the same span in CLOCK_MONOTONIC time: on the virtual card mostly
//                             pcscd and the card's RSA, not a real card's speed.
#include <p11-kit/pkcs11.h>

#include <dlfcn.h>

#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

CK_FUNCTION_LIST_PTR p11 = nullptr;

// Microseconds on CLOCK (CLOCK_PROCESS_CPUTIME_ID or CLOCK_MONOTONIC).
double now_us(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

bool ok(CK_RV rv, const char* what) {
    if (rv == CKR_OK) return true;
    std::fprintf(stderr, "bench-sign-n: %s failed: CK_RV 0x%08lX\n", what,
                 static_cast<unsigned long>(rv));
    return false;
}

std::string trimmed_label(const CK_UTF8CHAR (&label)[32]) {
    std::string s(reinterpret_cast<const char*>(label), sizeof label);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
    return s;
}

bool parse_hex(const char* text, std::vector<CK_BYTE>& out) {
    const std::size_t n = std::strlen(text);
    if (n == 0 || n % 2 != 0) return false;
    for (std::size_t i = 0; i < n; i += 2) {
        char pair[3] = {text[i], text[i + 1], 0};
        char* end = nullptr;
        const long v = std::strtol(pair, &end, 16);
        if (end != pair + 2) return false;
        out.push_back(static_cast<CK_BYTE>(v));
    }
    return true;
}

int run(int n, const std::string& label, const std::string& pin, const std::vector<CK_BYTE>& id) {
    CK_ULONG count = 0;
    if (!ok(p11->C_GetSlotList(CK_TRUE, nullptr, &count), "C_GetSlotList")) return 1;
    std::vector<CK_SLOT_ID> slots(count);
    if (!ok(p11->C_GetSlotList(CK_TRUE, slots.data(), &count), "C_GetSlotList")) return 1;
    slots.resize(count);
    CK_SLOT_ID slot = 0;
    bool found = false;
    for (CK_SLOT_ID s : slots) {
        CK_TOKEN_INFO info{};
        if (p11->C_GetTokenInfo(s, &info) != CKR_OK) continue;
        if (trimmed_label(info.label) == label) { slot = s; found = true; break; }
    }
    if (!found) {
        std::fprintf(stderr, "bench-sign-n: no token labelled \"%s\"\n", label.c_str());
        return 1;
    }

    CK_SESSION_HANDLE session = 0;
    if (!ok(p11->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &session),
            "C_OpenSession"))
        return 1;
    std::vector<CK_UTF8CHAR> pin_bytes(pin.begin(), pin.end());
    if (!ok(p11->C_Login(session, CKU_USER, pin_bytes.data(), pin_bytes.size()), "C_Login"))
        return 1;

    CK_OBJECT_CLASS key_class = CKO_PRIVATE_KEY;
    std::vector<CK_BYTE> id_copy = id;
    CK_ATTRIBUTE templ[] = {
        {CKA_CLASS, &key_class, sizeof key_class},
        {CKA_ID, id_copy.data(), id_copy.size()},
    };
    if (!ok(p11->C_FindObjectsInit(session, templ, 2), "C_FindObjectsInit")) return 1;
    CK_OBJECT_HANDLE key = 0;
    CK_ULONG found_keys = 0;
    const CK_RV find_rv = p11->C_FindObjects(session, &key, 1, &found_keys);
    p11->C_FindObjectsFinal(session);
    if (!ok(find_rv, "C_FindObjects")) return 1;
    if (found_keys != 1) {
        std::fprintf(stderr, "bench-sign-n: no private key with that CKA_ID\n");
        return 1;
    }

    CK_MECHANISM mech{CKM_SHA256_RSA_PKCS, nullptr, 0};
    const double cpu_start = now_us(CLOCK_PROCESS_CPUTIME_ID);
    const double wall_start = now_us(CLOCK_MONOTONIC);
    for (int i = 0; i < n; ++i) {
        std::string data = "bench-sign-n message " + std::to_string(i);
        if (!ok(p11->C_SignInit(session, &mech, key), "C_SignInit")) return 1;
        std::vector<CK_BYTE> sig(1024);
        CK_ULONG sig_len = sig.size();
        if (!ok(p11->C_Sign(session, reinterpret_cast<CK_BYTE_PTR>(data.data()), data.size(),
                            sig.data(), &sig_len),
                "C_Sign"))
            return 1;
    }
    const double cpu_us = now_us(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
    const double wall_us = now_us(CLOCK_MONOTONIC) - wall_start;
    p11->C_Logout(session);
    p11->C_CloseSession(session);
    std::printf("OK %d signatures\n", n);
    if (n > 0) {
        std::printf("cpu_us_per_signature %.1f\n", cpu_us / n);
        std::printf("wall_us_per_signature %.1f\n", wall_us / n);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 6) {
        std::fprintf(stderr, "usage: bench-sign-n MODULE [N] [TOKEN-LABEL] [PIN] [KEY-ID-HEX]\n");
        return 2;
    }
    const int n = argc > 2 ? std::atoi(argv[2]) : 10;
    const std::string label = argc > 3 ? argv[3] : "JPKI (User Authentication PIN)";
    const std::string pin = argc > 4 ? argv[4] : "1234";
    std::vector<CK_BYTE> id;
    if (n < 0 || !parse_hex(argc > 5 ? argv[5] : "01", id)) {
        std::fprintf(stderr, "bench-sign-n: bad N or KEY-ID-HEX\n");
        return 2;
    }

    void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
        std::fprintf(stderr, "bench-sign-n: dlopen: %s\n", dlerror());
        return 1;
    }
    auto get_list = reinterpret_cast<CK_C_GetFunctionList>(dlsym(lib, "C_GetFunctionList"));
    if (get_list == nullptr || !ok(get_list(&p11), "C_GetFunctionList") || p11 == nullptr) {
        std::fprintf(stderr, "bench-sign-n: no usable C_GetFunctionList in %s\n", argv[1]);
        return 1;
    }
    if (!ok(p11->C_Initialize(nullptr), "C_Initialize")) return 1;
    const int status = run(n, label, pin, id);
    p11->C_Finalize(nullptr);
    // The module is left loaded: some modules leave threads behind that dlclose would unmap.
    return status;
}
