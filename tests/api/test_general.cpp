// The module's general surface (PKCS#11 2.40 §5.4): the function list, C_Initialize /
// C_Finalize and their arguments, mutex callbacks, "not initialised", functions a read-only
// signing card does not offer, NULL pointer arguments, C_GetInfo, random numbers.
#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>

using namespace apitest;

namespace {

Setup uninitialised() {
    Setup setup;
    setup.initialize = false;
    return setup;
}

}  // namespace

TEST_CASE("C_GetFunctionList gives version 2.40 and a non-null entry for every function", "[general]") {
    CK_FUNCTION_LIST* list = nullptr;
    REQUIRE(C_GetFunctionList(&list) == CKR_OK);
    REQUIRE(list != nullptr);
    CHECK(list->version.major == 2);
    CHECK(list->version.minor == 40);
    // The table after `version` is 68 function pointers in the header's order.
    constexpr std::size_t functions = (sizeof(CK_FUNCTION_LIST) - offsetof(CK_FUNCTION_LIST, C_Initialize)) /
                                      sizeof(CK_C_Initialize);
    STATIC_REQUIRE(functions == 68);
    const auto* entries = reinterpret_cast<const CK_C_Initialize*>(&list->C_Initialize);
    for (std::size_t i = 0; i < functions; ++i) {
        INFO("entry " << i);
        CHECK(entries[i] != nullptr);
    }
    // Spot checks that the table is in the header's order and points at our functions.
    CHECK(list->C_Initialize == &C_Initialize);
    CHECK(list->C_GetFunctionList == &C_GetFunctionList);
    CHECK(list->C_Sign == &C_Sign);
    CHECK(list->C_WaitForSlotEvent == &C_WaitForSlotEvent);
}

TEST_CASE("C_GetFunctionList with NULL answers CKR_ARGUMENTS_BAD", "[general]") {
    CHECK(C_GetFunctionList(nullptr) == CKR_ARGUMENTS_BAD);
}

TEST_CASE("every call before C_Initialize answers CKR_CRYPTOKI_NOT_INITIALIZED", "[general]") {
    Fixture f(uninitialised());
    auto* p = f.p11;
    CK_INFO info;
    CK_ULONG count = 0;
    CK_SLOT_INFO slot_info;
    CK_TOKEN_INFO token_info;
    CK_MECHANISM_INFO mechanism_info;
    CK_SESSION_HANDLE session = 0;
    CK_SESSION_INFO session_info;
    CK_MECHANISM mechanism{CKM_RSA_PKCS, nullptr, 0};
    CK_BYTE buffer[16] = {};
    CK_ULONG length = sizeof buffer;
    CK_OBJECT_HANDLE object = 0;
    CK_SLOT_ID slot = 0;
    CK_BYTE pin[] = {'1', '2', '3', '4'};

    CHECK(p->C_Finalize(nullptr) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_GetInfo(&info) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_GetSlotList(CK_FALSE, nullptr, &count) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_GetSlotInfo(0, &slot_info) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_GetTokenInfo(0, &token_info) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_GetMechanismList(0, nullptr, &count) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_GetMechanismInfo(0, CKM_RSA_PKCS, &mechanism_info) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_OpenSession(0, CKF_SERIAL_SESSION, nullptr, nullptr, &session) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_CloseSession(1) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_CloseAllSessions(0) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_GetSessionInfo(1, &session_info) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_Login(1, CKU_USER, pin, 4) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_Logout(1) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_SetPIN(1, pin, 4, pin, 4) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_FindObjectsInit(1, nullptr, 0) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_FindObjects(1, &object, 1, &count) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_FindObjectsFinal(1) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CK_ATTRIBUTE attribute{CKA_CLASS, nullptr, 0};
    CHECK(p->C_GetAttributeValue(1, 1, &attribute, 1) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_SignInit(1, &mechanism, 1) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_Sign(1, buffer, 1, nullptr, &length) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_SignUpdate(1, buffer, 1) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_SignFinal(1, nullptr, &length) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_VerifyInit(1, &mechanism, 1) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_Verify(1, buffer, 1, buffer, 1) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_VerifyUpdate(1, buffer, 1) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_VerifyFinal(1, buffer, 1) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_GenerateRandom(1, buffer, 4) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_SeedRandom(1, buffer, 4) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, nullptr) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_InitPIN(1, pin, 4) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_EncryptInit(1, &mechanism, 1) == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(p->C_GetFunctionStatus(1) == CKR_CRYPTOKI_NOT_INITIALIZED);
}

TEST_CASE("C_Initialize twice answers CKR_CRYPTOKI_ALREADY_INITIALIZED", "[general]") {
    Fixture f;
    CHECK(f.p11->C_Initialize(nullptr) == CKR_CRYPTOKI_ALREADY_INITIALIZED);
    // The first initialisation still stands.
    CK_INFO info;
    CHECK(f.p11->C_GetInfo(&info) == CKR_OK);
}

TEST_CASE("C_Finalize with a non-NULL argument answers CKR_ARGUMENTS_BAD and finalizes nothing", "[general]") {
    Fixture f;
    int reserved = 0;
    CHECK(f.p11->C_Finalize(&reserved) == CKR_ARGUMENTS_BAD);
    CK_INFO info;
    CHECK(f.p11->C_GetInfo(&info) == CKR_OK);
}

TEST_CASE("C_Finalize then C_Initialize again works", "[general]") {
    Fixture f;
    CHECK(f.p11->C_Finalize(nullptr) == CKR_OK);
    CK_INFO info;
    CHECK(f.p11->C_GetInfo(&info) == CKR_CRYPTOKI_NOT_INITIALIZED);
    REQUIRE(f.p11->C_Initialize(nullptr) == CKR_OK);
    CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{0, 1});
    const CK_SESSION_HANDLE session = f.open(auth_slot);
    f.login(session, auth_pin);
}

namespace {
CK_RV create_mutex(CK_VOID_PTR_PTR mutex);
CK_RV destroy_mutex(CK_VOID_PTR mutex);
CK_RV lock_mutex(CK_VOID_PTR mutex);
CK_RV unlock_mutex(CK_VOID_PTR mutex);

std::atomic<int> created{0}, destroyed{0}, locked{0}, unlocked{0};

CK_RV create_mutex(CK_VOID_PTR_PTR mutex) {
    ++created;
    *mutex = new std::mutex;
    return CKR_OK;
}
CK_RV destroy_mutex(CK_VOID_PTR mutex) {
    ++destroyed;
    delete static_cast<std::mutex*>(mutex);
    return CKR_OK;
}
CK_RV lock_mutex(CK_VOID_PTR mutex) {
    ++locked;
    static_cast<std::mutex*>(mutex)->lock();
    return CKR_OK;
}
CK_RV unlock_mutex(CK_VOID_PTR mutex) {
    ++unlocked;
    static_cast<std::mutex*>(mutex)->unlock();
    return CKR_OK;
}

void reset_mutex_counters() { created = destroyed = locked = unlocked = 0; }
}  // namespace

TEST_CASE("C_Initialize with only some mutex callbacks answers CKR_ARGUMENTS_BAD", "[general][locking]") {
    Fixture f(uninitialised());
    CK_C_INITIALIZE_ARGS args{};
    SECTION("create only") { args.CreateMutex = create_mutex; }
    SECTION("all but unlock") {
        args.CreateMutex = create_mutex;
        args.DestroyMutex = destroy_mutex;
        args.LockMutex = lock_mutex;
    }
    SECTION("unlock only, with CKF_OS_LOCKING_OK") {
        args.UnlockMutex = unlock_mutex;
        args.flags = CKF_OS_LOCKING_OK;
    }
    CHECK(f.p11->C_Initialize(&args) == CKR_ARGUMENTS_BAD);
    CK_INFO info;
    CHECK(f.p11->C_GetInfo(&info) == CKR_CRYPTOKI_NOT_INITIALIZED);
}

TEST_CASE("application mutex callbacks without CKF_OS_LOCKING_OK are used", "[general][locking]") {
    reset_mutex_counters();
    {
        Fixture f(uninitialised());
        CK_C_INITIALIZE_ARGS args{};
        args.CreateMutex = create_mutex;
        args.DestroyMutex = destroy_mutex;
        args.LockMutex = lock_mutex;
        args.UnlockMutex = unlock_mutex;
        REQUIRE(f.p11->C_Initialize(&args) == CKR_OK);
        CHECK(created > 0);
        const int locks_before = locked;
        CHECK(f.slot_list(true).size() == 2);
        const CK_SESSION_HANDLE session = f.open(auth_slot);
        f.login(session, auth_pin);
        const CK_OBJECT_HANDLE key = f.find_one(session, CKO_PRIVATE_KEY, id_auth);
        const Bytes data = sha256_digest_info(bytes_of("mutex"));
        CHECK(openssl_verifies(pki_file("auth-cert.der"), CKM_RSA_PKCS, data, f.sign(session, CKM_RSA_PKCS, key, data)));
        CHECK(locked > locks_before);
        CHECK(locked == unlocked);
        REQUIRE(f.p11->C_Finalize(nullptr) == CKR_OK);
        CHECK(destroyed == created);  // every mutex the module made is given back
    }
}

TEST_CASE("application mutex callbacks with CKF_OS_LOCKING_OK may be ignored and everything works",
          "[general][locking]") {
    reset_mutex_counters();
    Fixture f(uninitialised());
    CK_C_INITIALIZE_ARGS args{};
    args.CreateMutex = create_mutex;
    args.DestroyMutex = destroy_mutex;
    args.LockMutex = lock_mutex;
    args.UnlockMutex = unlock_mutex;
    args.flags = CKF_OS_LOCKING_OK;
    REQUIRE(f.p11->C_Initialize(&args) == CKR_OK);
    const CK_SESSION_HANDLE session = f.open(auth_slot);
    f.login(session, auth_pin);
    CHECK(locked == unlocked);
}

TEST_CASE("C_Initialize with CKF_LIBRARY_CANT_CREATE_OS_THREADS works (the module makes no threads)",
          "[general]") {
    Fixture f(uninitialised());
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS | CKF_OS_LOCKING_OK;
    REQUIRE(f.p11->C_Initialize(&args) == CKR_OK);
    CHECK(f.slot_list(true).size() == 2);
}

TEST_CASE("C_GetInfo reports Cryptoki 2.40, the manufacturer and the project's version", "[general]") {
    Fixture f;
    CK_INFO info{};
    REQUIRE(f.p11->C_GetInfo(&info) == CKR_OK);
    CHECK(info.cryptokiVersion.major == 2);
    CHECK(info.cryptokiVersion.minor == 40);
    CHECK(text(info.manufacturerID) == "jpki-pkcs11");
    // The one name the docs and `jpki setup` use for the module (issue 9).
    CHECK(text(info.libraryDescription) == "My Number Card (JPKI) PKCS#11");
    CHECK(info.libraryVersion.major == JPKI_PROJECT_VERSION_MAJOR);
    CHECK(info.libraryVersion.minor == JPKI_PROJECT_VERSION_MINOR);
    CHECK(info.flags == 0);
}

TEST_CASE("functions a read-only signing card does not offer answer CKR_FUNCTION_NOT_SUPPORTED", "[general]") {
    Fixture f;
    auto* p = f.p11;
    const CK_SESSION_HANDLE s = f.open(auth_slot, true);
    CK_MECHANISM mechanism{CKM_RSA_PKCS, nullptr, 0};
    CK_BYTE buffer[300] = {};
    CK_ULONG length = sizeof buffer;
    CK_OBJECT_HANDLE object = 0, other = 0;
    CK_BYTE label[] = {'x'};
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE attribute{CKA_TOKEN, &yes, 1};

    CHECK(p->C_InitToken(auth_slot, buffer, 4, label) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_InitPIN(s, buffer, 4) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_GetOperationState(s, buffer, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_SetOperationState(s, buffer, 4, 0, 0) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_CreateObject(s, &attribute, 1, &object) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_CopyObject(s, 1, &attribute, 1, &object) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_DestroyObject(s, 1) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_GetObjectSize(s, 1, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_SetAttributeValue(s, 1, &attribute, 1) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_EncryptInit(s, &mechanism, 1) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_Encrypt(s, buffer, 1, buffer, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_EncryptUpdate(s, buffer, 1, buffer, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_EncryptFinal(s, buffer, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_DecryptInit(s, &mechanism, 1) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_Decrypt(s, buffer, 1, buffer, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_DecryptUpdate(s, buffer, 1, buffer, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_DecryptFinal(s, buffer, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_DigestInit(s, &mechanism) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_Digest(s, buffer, 1, buffer, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_DigestUpdate(s, buffer, 1) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_DigestKey(s, 1) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_DigestFinal(s, buffer, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_SignRecoverInit(s, &mechanism, 1) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_SignRecover(s, buffer, 1, buffer, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_VerifyRecoverInit(s, &mechanism, 1) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_VerifyRecover(s, buffer, 1, buffer, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_DigestEncryptUpdate(s, buffer, 1, buffer, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_DecryptDigestUpdate(s, buffer, 1, buffer, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_SignEncryptUpdate(s, buffer, 1, buffer, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_DecryptVerifyUpdate(s, buffer, 1, buffer, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_GenerateKey(s, &mechanism, &attribute, 1, &object) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_GenerateKeyPair(s, &mechanism, &attribute, 1, &attribute, 1, &object, &other) ==
          CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_WrapKey(s, &mechanism, 1, 2, buffer, &length) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_UnwrapKey(s, &mechanism, 1, buffer, 4, &attribute, 1, &object) == CKR_FUNCTION_NOT_SUPPORTED);
    CHECK(p->C_DeriveKey(s, &mechanism, 1, &attribute, 1, &object) == CKR_FUNCTION_NOT_SUPPORTED);
}

TEST_CASE("the legacy parallel functions answer CKR_FUNCTION_NOT_PARALLEL", "[general]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    CHECK(f.p11->C_GetFunctionStatus(s) == CKR_FUNCTION_NOT_PARALLEL);
    CHECK(f.p11->C_CancelFunction(s) == CKR_FUNCTION_NOT_PARALLEL);
}

TEST_CASE("NULL pointer arguments answer CKR_ARGUMENTS_BAD", "[general]") {
    Fixture f;
    auto* p = f.p11;
    const CK_SESSION_HANDLE s = f.open(auth_slot, true);
    CK_BYTE buffer[16] = {};
    CK_ULONG length = sizeof buffer;
    CK_SLOT_ID slot = 0;

    CHECK(p->C_GetInfo(nullptr) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_GetSlotList(CK_FALSE, nullptr, nullptr) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_GetSlotInfo(auth_slot, nullptr) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_GetTokenInfo(auth_slot, nullptr) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_GetMechanismList(auth_slot, nullptr, nullptr) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_GetMechanismInfo(auth_slot, CKM_RSA_PKCS, nullptr) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_OpenSession(auth_slot, CKF_SERIAL_SESSION, nullptr, nullptr, nullptr) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_GetSessionInfo(s, nullptr) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_Login(s, CKU_USER, nullptr, 4) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_SetPIN(s, nullptr, 4, buffer, 4) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_SetPIN(s, buffer, 4, nullptr, 4) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_FindObjectsInit(s, nullptr, 1) == CKR_ARGUMENTS_BAD);
    REQUIRE(p->C_FindObjectsInit(s, nullptr, 0) == CKR_OK);
    CK_OBJECT_HANDLE object = 0;
    CHECK(p->C_FindObjects(s, nullptr, 1, &length) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_FindObjects(s, &object, 1, nullptr) == CKR_ARGUMENTS_BAD);
    REQUIRE(p->C_FindObjectsFinal(s) == CKR_OK);
    const CK_OBJECT_HANDLE certificate = f.find_one(s, CKO_CERTIFICATE, id_auth);
    CHECK(p->C_GetAttributeValue(s, certificate, nullptr, 1) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_SignInit(s, nullptr, 1) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_VerifyInit(s, nullptr, 1) == CKR_ARGUMENTS_BAD);

    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    REQUIRE(p->C_SignInit(s, &mechanism, key) == CKR_OK);
    CHECK(p->C_Sign(s, nullptr, 4, nullptr, &length) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_Sign(s, buffer, 4, nullptr, nullptr) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_SignUpdate(s, nullptr, 4) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_SignFinal(s, buffer, nullptr) == CKR_ARGUMENTS_BAD);

    const CK_OBJECT_HANDLE public_key = f.find_one(s, CKO_PUBLIC_KEY, id_auth);
    REQUIRE(p->C_VerifyInit(s, &mechanism, public_key) == CKR_OK);
    CHECK(p->C_Verify(s, nullptr, 4, buffer, 4) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_Verify(s, buffer, 4, nullptr, 4) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_VerifyUpdate(s, nullptr, 4) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_VerifyFinal(s, nullptr, 4) == CKR_ARGUMENTS_BAD);

    CHECK(p->C_GenerateRandom(s, nullptr, 4) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_WaitForSlotEvent(CKF_DONT_BLOCK, nullptr, nullptr) == CKR_ARGUMENTS_BAD);
    CHECK(p->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, buffer) == CKR_ARGUMENTS_BAD);
}

TEST_CASE("unknown session handles answer CKR_SESSION_HANDLE_INVALID", "[general]") {
    Fixture f;
    auto* p = f.p11;
    const CK_SESSION_HANDLE bad = 0x7777;
    CK_SESSION_INFO info;
    CK_MECHANISM mechanism{CKM_RSA_PKCS, nullptr, 0};
    CK_BYTE buffer[16] = {};
    CK_ULONG length = sizeof buffer;
    CK_OBJECT_HANDLE object = 0;
    CK_ATTRIBUTE attribute{CKA_CLASS, nullptr, 0};
    CK_BYTE pin[] = {'1', '2', '3', '4'};

    CHECK(p->C_CloseSession(bad) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_CloseSession(CK_INVALID_HANDLE) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_GetSessionInfo(bad, &info) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_Login(bad, CKU_USER, pin, 4) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_Logout(bad) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_SetPIN(bad, pin, 4, pin, 4) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_FindObjectsInit(bad, nullptr, 0) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_FindObjects(bad, &object, 1, &length) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_FindObjectsFinal(bad) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_GetAttributeValue(bad, 1, &attribute, 1) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_SignInit(bad, &mechanism, 1) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_Sign(bad, buffer, 4, nullptr, &length) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_SignUpdate(bad, buffer, 4) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_SignFinal(bad, nullptr, &length) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_VerifyInit(bad, &mechanism, 1) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_Verify(bad, buffer, 4, buffer, 4) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_VerifyUpdate(bad, buffer, 4) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_VerifyFinal(bad, buffer, 4) == CKR_SESSION_HANDLE_INVALID);
    CHECK(p->C_GenerateRandom(bad, buffer, 4) == CKR_SESSION_HANDLE_INVALID);
}

TEST_CASE("a closed session's handle answers CKR_SESSION_HANDLE_INVALID and is never reused", "[general]") {
    Fixture f;
    const CK_SESSION_HANDLE first = f.open(auth_slot);
    REQUIRE(f.p11->C_CloseSession(first) == CKR_OK);
    CK_SESSION_INFO info;
    CHECK(f.p11->C_GetSessionInfo(first, &info) == CKR_SESSION_HANDLE_INVALID);
    CHECK(f.p11->C_CloseSession(first) == CKR_SESSION_HANDLE_INVALID);
    const CK_SESSION_HANDLE second = f.open(auth_slot);
    CHECK(second != first);
}

TEST_CASE("unknown object handles answer CKR_OBJECT_HANDLE_INVALID", "[general]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    CK_ULONG value = 0;
    CK_ATTRIBUTE attribute{CKA_CLASS, &value, sizeof value};
    CHECK(f.p11->C_GetAttributeValue(s, 0x7777, &attribute, 1) == CKR_OBJECT_HANDLE_INVALID);
    CHECK(f.p11->C_GetAttributeValue(s, CK_INVALID_HANDLE, &attribute, 1) == CKR_OBJECT_HANDLE_INVALID);
    // An object of the other token is not this session's.
    const CK_SESSION_HANDLE sign = f.open(sign_slot);
    const CK_OBJECT_HANDLE sign_ca = f.find_one(sign, CKO_CERTIFICATE, id_sign_ca);
    CHECK(f.p11->C_GetAttributeValue(s, sign_ca, &attribute, 1) == CKR_OBJECT_HANDLE_INVALID);
}

TEST_CASE("unknown slot IDs answer CKR_SLOT_ID_INVALID", "[general]") {
    Fixture f;
    auto* p = f.p11;
    const CK_SLOT_ID bad = 2;  // one reader: slots 0 and 1 only
    CK_SLOT_INFO slot_info;
    CK_TOKEN_INFO token_info;
    CK_ULONG count = 0;
    CK_MECHANISM_INFO mechanism_info;
    CK_SESSION_HANDLE session = 0;
    CHECK(p->C_GetSlotInfo(bad, &slot_info) == CKR_SLOT_ID_INVALID);
    CHECK(p->C_GetSlotInfo(12345, &slot_info) == CKR_SLOT_ID_INVALID);
    CHECK(p->C_GetTokenInfo(bad, &token_info) == CKR_SLOT_ID_INVALID);
    CHECK(p->C_GetMechanismList(bad, nullptr, &count) == CKR_SLOT_ID_INVALID);
    CHECK(p->C_GetMechanismInfo(bad, CKM_RSA_PKCS, &mechanism_info) == CKR_SLOT_ID_INVALID);
    CHECK(p->C_OpenSession(bad, CKF_SERIAL_SESSION, nullptr, nullptr, &session) == CKR_SLOT_ID_INVALID);
    CHECK(p->C_CloseAllSessions(bad) == CKR_SLOT_ID_INVALID);
}

TEST_CASE("C_OpenSession without CKF_SERIAL_SESSION answers CKR_SESSION_PARALLEL_NOT_SUPPORTED", "[general]") {
    Fixture f;
    CK_SESSION_HANDLE session = 0;
    CHECK(f.p11->C_OpenSession(auth_slot, 0, nullptr, nullptr, &session) == CKR_SESSION_PARALLEL_NOT_SUPPORTED);
}

TEST_CASE("C_GetSessionInfo reports slot, flags and the login state", "[general][login]") {
    Fixture f;
    const CK_SESSION_HANDLE ro = f.open(sign_slot);
    const CK_SESSION_HANDLE rw = f.open(sign_slot, true);
    CK_SESSION_INFO info{};
    REQUIRE(f.p11->C_GetSessionInfo(ro, &info) == CKR_OK);
    CHECK(info.slotID == sign_slot);
    CHECK(info.state == CKS_RO_PUBLIC_SESSION);
    CHECK(info.flags == CKF_SERIAL_SESSION);
    REQUIRE(f.p11->C_GetSessionInfo(rw, &info) == CKR_OK);
    CHECK(info.state == CKS_RW_PUBLIC_SESSION);
    CHECK(info.flags == (CKF_SERIAL_SESSION | CKF_RW_SESSION));
    f.login(ro, sign_pin);
    REQUIRE(f.p11->C_GetSessionInfo(ro, &info) == CKR_OK);
    CHECK(info.state == CKS_RO_USER_FUNCTIONS);
    REQUIRE(f.p11->C_GetSessionInfo(rw, &info) == CKR_OK);
    CHECK(info.state == CKS_RW_USER_FUNCTIONS);
}

TEST_CASE("No token advertises CKF_RNG and C_GenerateRandom answers CKR_RANDOM_NO_RNG", "[general][random]") {
    Fixture f;
    for (const CK_SLOT_ID slot : {auth_slot, sign_slot}) {
        CK_TOKEN_INFO info{};
        REQUIRE(f.p11->C_GetTokenInfo(slot, &info) == CKR_OK);
        CHECK((info.flags & CKF_RNG) == 0);
    }
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    Bytes random(300, 0);
    CHECK(f.p11->C_GenerateRandom(s, random.data(), static_cast<CK_ULONG>(random.size())) == CKR_RANDOM_NO_RNG);
    CHECK(f.p11->C_GenerateRandom(s, random.data(), 0) == CKR_RANDOM_NO_RNG);
    // Nothing went to the card for it: no GET CHALLENGE.
    const auto apdus = f.apdus();
    CHECK(std::none_of(apdus.begin(), apdus.end(), [](const std::string& l) { return l.starts_with("0084"); }));
}

TEST_CASE("C_SeedRandom answers CKR_RANDOM_NO_RNG (no generator to seed)", "[general][random]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    CK_BYTE seed[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK(f.p11->C_SeedRandom(s, seed, sizeof seed) == CKR_RANDOM_NO_RNG);
}

TEST_CASE("C_SeedRandom checks its session and its seed first", "[general][random]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    CK_BYTE seed[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK(f.p11->C_SeedRandom(s + 100, seed, sizeof seed) == CKR_SESSION_HANDLE_INVALID);
    CHECK(f.p11->C_SeedRandom(CK_INVALID_HANDLE, seed, sizeof seed) == CKR_SESSION_HANDLE_INVALID);
    CHECK(f.p11->C_SeedRandom(s, nullptr, sizeof seed) == CKR_ARGUMENTS_BAD);
    REQUIRE(f.p11->C_CloseSession(s) == CKR_OK);
    CHECK(f.p11->C_SeedRandom(s, seed, sizeof seed) == CKR_SESSION_HANDLE_INVALID);
}
