// The module as applications load it (docs/design.md §2): dlopen, C_GetFunctionList, and nothing
// but the PKCS#11 entry points exported. Without a reachable pcscd it still initialises and
// shows no slots; it never crashes the host.
#include "jpki/pkcs11.hpp"

#include <catch2/catch.hpp>

#include <dlfcn.h>
#include <stdlib.h>

#include <string>

namespace {

// The 68 functions of PKCS#11 2.40, in the header's order.
constexpr const char* kFunctions[] = {
    "C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList", "C_GetSlotList", "C_GetSlotInfo",
    "C_GetTokenInfo", "C_GetMechanismList", "C_GetMechanismInfo", "C_InitToken", "C_InitPIN", "C_SetPIN",
    "C_OpenSession", "C_CloseSession", "C_CloseAllSessions", "C_GetSessionInfo", "C_GetOperationState",
    "C_SetOperationState", "C_Login", "C_Logout", "C_CreateObject", "C_CopyObject", "C_DestroyObject",
    "C_GetObjectSize", "C_GetAttributeValue", "C_SetAttributeValue", "C_FindObjectsInit", "C_FindObjects",
    "C_FindObjectsFinal", "C_EncryptInit", "C_Encrypt", "C_EncryptUpdate", "C_EncryptFinal", "C_DecryptInit",
    "C_Decrypt", "C_DecryptUpdate", "C_DecryptFinal", "C_DigestInit", "C_Digest", "C_DigestUpdate",
    "C_DigestKey", "C_DigestFinal", "C_SignInit", "C_Sign", "C_SignUpdate", "C_SignFinal", "C_SignRecoverInit",
    "C_SignRecover", "C_VerifyInit", "C_Verify", "C_VerifyUpdate", "C_VerifyFinal", "C_VerifyRecoverInit",
    "C_VerifyRecover", "C_DigestEncryptUpdate", "C_DecryptDigestUpdate", "C_SignEncryptUpdate",
    "C_DecryptVerifyUpdate", "C_GenerateKey", "C_GenerateKeyPair", "C_WrapKey", "C_UnwrapKey", "C_DeriveKey",
    "C_SeedRandom", "C_GenerateRandom", "C_GetFunctionStatus", "C_CancelFunction", "C_WaitForSlotEvent",
};
static_assert(sizeof kFunctions / sizeof kFunctions[0] == 68);

// dlopen/dlclose around one test.
class Module {
public:
    Module() : handle_(dlopen(JPKI_MODULE_PATH, RTLD_NOW | RTLD_LOCAL)) {
        INFO((handle_ == nullptr ? dlerror() : ""));
        REQUIRE(handle_ != nullptr);
    }
    ~Module() {
        if (handle_ != nullptr) dlclose(handle_);
    }
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;
    void* symbol(const char* name) const { return dlsym(handle_, name); }

    CK_FUNCTION_LIST* functions() const {
        auto get = reinterpret_cast<CK_C_GetFunctionList>(symbol("C_GetFunctionList"));
        REQUIRE(get != nullptr);
        CK_FUNCTION_LIST* list = nullptr;
        REQUIRE(get(&list) == CKR_OK);
        REQUIRE(list != nullptr);
        return list;
    }

private:
    void* handle_;
};

// No pcscd: the PC/SC client library reads its socket path from this variable.
class NoPcscd {
public:
    NoPcscd() {
        const char* old = getenv("PCSCLITE_CSOCK_NAME");
        if (old != nullptr) old_ = old;
        had_ = old != nullptr;
        setenv("PCSCLITE_CSOCK_NAME", "/nonexistent/jpki-api-test/pcscd.comm", 1);
        for (const char* name : {"JPKI_PKCS11_SLOTS", "JPKI_PKCS11_ALLOW_FINAL_TRY", "JPKI_PKCS11_ALWAYS_AUTH",
                                 "JPKI_PKCS11_PSS", "JPKI_PKCS11_LOG"})
            unsetenv(name);
    }
    ~NoPcscd() {
        if (had_)
            setenv("PCSCLITE_CSOCK_NAME", old_.c_str(), 1);
        else
            unsetenv("PCSCLITE_CSOCK_NAME");
    }

private:
    std::string old_;
    bool had_ = false;
};

}  // namespace

TEST_CASE("the built module exports every PKCS#11 2.40 function by name", "[module]") {
    Module module;
    for (const char* name : kFunctions) {
        INFO(name);
        CHECK(module.symbol(name) != nullptr);
    }
}

TEST_CASE("the built module exports no C++ symbol of its own", "[module]") {
    Module module;
    // jpki::api::Instance::get() and jpki::token::resolve_config(...) exist inside the module.
    CHECK(module.symbol("_ZN4jpki3api8Instance3getEv") == nullptr);
    CHECK(module.symbol("_ZN4jpki3api8Instance10initializeEPv") == nullptr);
    CHECK(module.symbol("_ZN4jpki5token14resolve_configERKNS0_13ConfigSourcesE") == nullptr);
}

TEST_CASE("the built module's function table matches its exported symbols, version 2.40", "[module]") {
    Module module;
    CK_FUNCTION_LIST* list = module.functions();
    CHECK(list->version.major == 2);
    CHECK(list->version.minor == 40);
    const auto* entries = reinterpret_cast<void* const*>(&list->C_Initialize);
    for (std::size_t i = 0; i < 68; ++i) {
        INFO(kFunctions[i]);
        CHECK(entries[i] == module.symbol(kFunctions[i]));
    }
}

TEST_CASE("without a reachable pcscd the module initialises and shows no slots", "[module]") {
    NoPcscd no_pcscd;
    Module module;
    CK_FUNCTION_LIST* p11 = module.functions();
    REQUIRE(p11->C_Initialize(nullptr) == CKR_OK);
    CK_ULONG count = 99;
    CHECK(p11->C_GetSlotList(CK_FALSE, nullptr, &count) == CKR_OK);
    CHECK(count == 0);
    count = 99;
    CHECK(p11->C_GetSlotList(CK_TRUE, nullptr, &count) == CKR_OK);
    CHECK(count == 0);
    CK_SLOT_INFO info;
    CHECK(p11->C_GetSlotInfo(0, &info) == CKR_SLOT_ID_INVALID);
    CK_SLOT_ID slot = 0;
    const CK_RV rv = p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, nullptr);
    CHECK((rv == CKR_NO_EVENT || rv == CKR_DEVICE_ERROR));
    CK_INFO module_info;
    CHECK(p11->C_GetInfo(&module_info) == CKR_OK);
    CHECK(p11->C_Finalize(nullptr) == CKR_OK);
}

TEST_CASE("the built module survives load, initialise, finalize, unload twice", "[module]") {
    NoPcscd no_pcscd;
    for (int round = 0; round < 2; ++round) {
        Module module;
        CK_FUNCTION_LIST* p11 = module.functions();
        REQUIRE(p11->C_Initialize(nullptr) == CKR_OK);
        CK_ULONG count = 99;
        CHECK(p11->C_GetSlotList(CK_TRUE, nullptr, &count) == CKR_OK);
        CHECK(p11->C_Finalize(nullptr) == CKR_OK);
    }
}
