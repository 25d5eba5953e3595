// The misuse table (issue 7 "Misuse table test"): every C_* entry point called the ways a careless
// or hostile application calls it (NULL pointers, invalid and stale handles, invalid slots, wrong
// session states, operations not initialised, too-small buffers, oversized inputs, before
// C_Initialize and after C_Finalize). One row per call with the CK_RV PKCS#11 2.40 names for
// it; a row that crashes fails the whole binary. No row may spend a PIN try.
//
// The number of calls tried is printed as "misuse: N calls" (docs/reliability.md).
#include "fixture.hpp"

#include "token/errors.hpp"

#include <catch2/catch.hpp>

#include <climits>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

using namespace apitest;

namespace {

struct Row {
    std::string call;
    CK_RV expected;
    std::function<CK_RV()> run;
};

// Runs the rows in order (a row may set up state for the next), checks each answer, and
// returns how many misuse calls it made.
std::size_t run_table(const std::string& phase, const std::vector<Row>& rows) {
    for (const Row& row : rows) {
        INFO(phase << ": " << row.call);
        const CK_RV rv = row.run();
        INFO("answered " << jpki::token::rv_name(rv) << ", expected " << jpki::token::rv_name(row.expected));
        CHECK(rv == row.expected);
    }
    std::printf("misuse: %zu calls (%s)\n", rows.size(), phase.c_str());
    return rows.size();
}

// What each entry point is about, for the "every entry point" rows below.
enum class Kind {
    Global,        // no slot, no session
    Slot,          // takes a slot ID
    Session,       // takes a session handle
    Unsupported,   // CKR_FUNCTION_NOT_SUPPORTED whatever its arguments (after initialisation)
    Legacy,        // C_GetFunctionStatus, C_CancelFunction: CKR_FUNCTION_NOT_PARALLEL (§5.16)
};

struct EntryCall {
    std::string name;
    Kind kind;
    std::function<CK_RV()> run;
};

// Buffers the calls below point into; every pointer argument is a valid one.
struct Buffers {
    CK_INFO info{};
    CK_SLOT_ID slots[16]{};
    CK_ULONG count = 16;
    CK_SLOT_INFO slot_info{};
    CK_TOKEN_INFO token_info{};
    CK_MECHANISM_TYPE mechanisms[16]{};
    CK_MECHANISM_INFO mechanism_info{};
    CK_SESSION_HANDLE new_session = CK_INVALID_HANDLE;
    CK_SESSION_INFO session_info{};
    CK_BYTE data[32] = {1, 2, 3};
    CK_BYTE out[512]{};
    CK_ULONG out_length = sizeof out;
    CK_OBJECT_HANDLE objects[8]{};
    CK_OBJECT_HANDLE object_out = CK_INVALID_HANDLE, object_out2 = CK_INVALID_HANDLE;
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    CK_UTF8CHAR pin[5] = {'1', '2', '3', '4', 0};
    CK_UTF8CHAR label[32]{};
    CK_BYTE attribute_value[64]{};
    CK_ATTRIBUTE attribute{CKA_LABEL, attribute_value, sizeof attribute_value};
    CK_SLOT_ID event_slot = 0;

    void reset_lengths() {
        count = 16;
        out_length = sizeof out;
        attribute.ulValueLen = sizeof attribute_value;
    }
};

// Every entry point but C_GetFunctionList and C_Initialize (66 of the 68), with well-formed
// arguments around `slot`, `session` and `object`. Without `include_finalize`, C_Finalize is left
// out (the table must not end the module it tests).
std::vector<EntryCall> every_entry_point(CK_FUNCTION_LIST* p, Buffers& buffers, CK_SLOT_ID slot, CK_SESSION_HANDLE s,
                                         CK_OBJECT_HANDLE object, bool include_finalize) {
    const CK_ULONG n = 8;
    Buffers* b = &buffers;  // the lambdas keep pointing into the caller's buffers
    auto* m = &b->mechanism;
    std::vector<EntryCall> calls = {
        {"C_GetInfo", Kind::Global, [=] { return p->C_GetInfo(&b->info); }},
        {"C_GetSlotList", Kind::Global, [=] { return p->C_GetSlotList(CK_FALSE, b->slots, &b->count); }},
        {"C_WaitForSlotEvent(CKF_DONT_BLOCK)", Kind::Global,
         [=] { return p->C_WaitForSlotEvent(CKF_DONT_BLOCK, &b->event_slot, nullptr); }},
        {"C_GetSlotInfo", Kind::Slot, [=] { return p->C_GetSlotInfo(slot, &b->slot_info); }},
        {"C_GetTokenInfo", Kind::Slot, [=] { return p->C_GetTokenInfo(slot, &b->token_info); }},
        {"C_GetMechanismList", Kind::Slot, [=] { return p->C_GetMechanismList(slot, b->mechanisms, &b->count); }},
        {"C_GetMechanismInfo", Kind::Slot, [=] { return p->C_GetMechanismInfo(slot, CKM_RSA_PKCS, &b->mechanism_info); }},
        {"C_OpenSession", Kind::Slot,
         [=] { return p->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &b->new_session); }},
        {"C_CloseAllSessions", Kind::Slot, [=] { return p->C_CloseAllSessions(slot); }},
        {"C_InitToken", Kind::Unsupported, [=] { return p->C_InitToken(slot, b->pin, 4, b->label); }},
        {"C_InitPIN", Kind::Unsupported, [=] { return p->C_InitPIN(s, b->pin, 4); }},
        {"C_SetPIN", Kind::Session, [=] { return p->C_SetPIN(s, b->pin, 4, b->pin, 4); }},
        {"C_CloseSession", Kind::Session, [=] { return p->C_CloseSession(s); }},
        {"C_GetSessionInfo", Kind::Session, [=] { return p->C_GetSessionInfo(s, &b->session_info); }},
        {"C_GetOperationState", Kind::Unsupported, [=] { return p->C_GetOperationState(s, b->out, &b->out_length); }},
        {"C_SetOperationState", Kind::Unsupported, [=] { return p->C_SetOperationState(s, b->out, 16, 0, 0); }},
        {"C_Login", Kind::Session, [=] { return p->C_Login(s, CKU_USER, b->pin, 4); }},
        {"C_Logout", Kind::Session, [=] { return p->C_Logout(s); }},
        {"C_CreateObject", Kind::Unsupported, [=] { return p->C_CreateObject(s, &b->attribute, 1, &b->object_out); }},
        {"C_CopyObject", Kind::Unsupported,
         [=] { return p->C_CopyObject(s, object, &b->attribute, 1, &b->object_out); }},
        {"C_DestroyObject", Kind::Unsupported, [=] { return p->C_DestroyObject(s, object); }},
        {"C_GetObjectSize", Kind::Unsupported, [=] { return p->C_GetObjectSize(s, object, &b->out_length); }},
        {"C_GetAttributeValue", Kind::Session, [=] { return p->C_GetAttributeValue(s, object, &b->attribute, 1); }},
        {"C_SetAttributeValue", Kind::Unsupported, [=] { return p->C_SetAttributeValue(s, object, &b->attribute, 1); }},
        {"C_FindObjectsInit", Kind::Session, [=] { return p->C_FindObjectsInit(s, &b->attribute, 1); }},
        {"C_FindObjects", Kind::Session, [=] { return p->C_FindObjects(s, b->objects, n, &b->count); }},
        {"C_FindObjectsFinal", Kind::Session, [=] { return p->C_FindObjectsFinal(s); }},
        {"C_EncryptInit", Kind::Unsupported, [=] { return p->C_EncryptInit(s, m, object); }},
        {"C_Encrypt", Kind::Unsupported, [=] { return p->C_Encrypt(s, b->data, 3, b->out, &b->out_length); }},
        {"C_EncryptUpdate", Kind::Unsupported, [=] { return p->C_EncryptUpdate(s, b->data, 3, b->out, &b->out_length); }},
        {"C_EncryptFinal", Kind::Unsupported, [=] { return p->C_EncryptFinal(s, b->out, &b->out_length); }},
        {"C_DecryptInit", Kind::Unsupported, [=] { return p->C_DecryptInit(s, m, object); }},
        {"C_Decrypt", Kind::Unsupported, [=] { return p->C_Decrypt(s, b->data, 3, b->out, &b->out_length); }},
        {"C_DecryptUpdate", Kind::Unsupported, [=] { return p->C_DecryptUpdate(s, b->data, 3, b->out, &b->out_length); }},
        {"C_DecryptFinal", Kind::Unsupported, [=] { return p->C_DecryptFinal(s, b->out, &b->out_length); }},
        {"C_DigestInit", Kind::Unsupported, [=] { return p->C_DigestInit(s, m); }},
        {"C_Digest", Kind::Unsupported, [=] { return p->C_Digest(s, b->data, 3, b->out, &b->out_length); }},
        {"C_DigestUpdate", Kind::Unsupported, [=] { return p->C_DigestUpdate(s, b->data, 3); }},
        {"C_DigestKey", Kind::Unsupported, [=] { return p->C_DigestKey(s, object); }},
        {"C_DigestFinal", Kind::Unsupported, [=] { return p->C_DigestFinal(s, b->out, &b->out_length); }},
        {"C_SignInit", Kind::Session, [=] { return p->C_SignInit(s, m, object); }},
        {"C_Sign", Kind::Session, [=] { return p->C_Sign(s, b->data, 3, b->out, &b->out_length); }},
        {"C_SignUpdate", Kind::Session, [=] { return p->C_SignUpdate(s, b->data, 3); }},
        {"C_SignFinal", Kind::Session, [=] { return p->C_SignFinal(s, b->out, &b->out_length); }},
        {"C_SignRecoverInit", Kind::Unsupported, [=] { return p->C_SignRecoverInit(s, m, object); }},
        {"C_SignRecover", Kind::Unsupported, [=] { return p->C_SignRecover(s, b->data, 3, b->out, &b->out_length); }},
        {"C_VerifyInit", Kind::Session, [=] { return p->C_VerifyInit(s, m, object); }},
        {"C_Verify", Kind::Session, [=] { return p->C_Verify(s, b->data, 3, b->out, signature_size); }},
        {"C_VerifyUpdate", Kind::Session, [=] { return p->C_VerifyUpdate(s, b->data, 3); }},
        {"C_VerifyFinal", Kind::Session, [=] { return p->C_VerifyFinal(s, b->out, signature_size); }},
        {"C_VerifyRecoverInit", Kind::Unsupported, [=] { return p->C_VerifyRecoverInit(s, m, object); }},
        {"C_VerifyRecover", Kind::Unsupported,
         [=] { return p->C_VerifyRecover(s, b->out, signature_size, b->out, &b->out_length); }},
        {"C_DigestEncryptUpdate", Kind::Unsupported,
         [=] { return p->C_DigestEncryptUpdate(s, b->data, 3, b->out, &b->out_length); }},
        {"C_DecryptDigestUpdate", Kind::Unsupported,
         [=] { return p->C_DecryptDigestUpdate(s, b->data, 3, b->out, &b->out_length); }},
        {"C_SignEncryptUpdate", Kind::Unsupported,
         [=] { return p->C_SignEncryptUpdate(s, b->data, 3, b->out, &b->out_length); }},
        {"C_DecryptVerifyUpdate", Kind::Unsupported,
         [=] { return p->C_DecryptVerifyUpdate(s, b->data, 3, b->out, &b->out_length); }},
        {"C_GenerateKey", Kind::Unsupported, [=] { return p->C_GenerateKey(s, m, &b->attribute, 1, &b->object_out); }},
        {"C_GenerateKeyPair", Kind::Unsupported,
         [=] { return p->C_GenerateKeyPair(s, m, &b->attribute, 1, &b->attribute, 1, &b->object_out, &b->object_out2); }},
        {"C_WrapKey", Kind::Unsupported, [=] { return p->C_WrapKey(s, m, object, object, b->out, &b->out_length); }},
        {"C_UnwrapKey", Kind::Unsupported,
         [=] { return p->C_UnwrapKey(s, m, object, b->data, 3, &b->attribute, 1, &b->object_out); }},
        {"C_DeriveKey", Kind::Unsupported, [=] { return p->C_DeriveKey(s, m, object, &b->attribute, 1, &b->object_out); }},
        {"C_SeedRandom", Kind::Session, [=] { return p->C_SeedRandom(s, b->data, 3); }},
        {"C_GenerateRandom", Kind::Session, [=] { return p->C_GenerateRandom(s, b->out, 8); }},
        {"C_GetFunctionStatus", Kind::Legacy, [=] { return p->C_GetFunctionStatus(s); }},
        {"C_CancelFunction", Kind::Legacy, [=] { return p->C_CancelFunction(s); }},
    };
    if (include_finalize) calls.push_back({"C_Finalize", Kind::Global, [=] { return p->C_Finalize(nullptr); }});
    return calls;
}

// Rows for every entry point that answers `expected` whatever its kind (not initialised).
void add_all(std::vector<Row>& rows, const std::string& context, const std::vector<EntryCall>& calls, CK_RV expected) {
    for (const auto& call : calls) rows.push_back({call.name + " " + context, expected, call.run});
}

// Rows for the entry points taking a session handle, which is not an open session's.
void add_bad_session(std::vector<Row>& rows, const std::string& context, const std::vector<EntryCall>& calls) {
    for (const auto& call : calls) {
        if (call.kind == Kind::Global || call.kind == Kind::Slot || call.name == "C_InitToken") continue;
        const CK_RV expected = call.kind == Kind::Unsupported ? CKR_FUNCTION_NOT_SUPPORTED
                               : call.kind == Kind::Legacy    ? CKR_FUNCTION_NOT_PARALLEL
                                                              : CKR_SESSION_HANDLE_INVALID;
        rows.push_back({call.name + " " + context, expected, call.run});
    }
}

// Rows for the entry points taking a slot ID, which is no slot's.
void add_bad_slot(std::vector<Row>& rows, const std::string& context, const std::vector<EntryCall>& calls) {
    for (const auto& call : calls) {
        if (call.kind == Kind::Slot)
            rows.push_back({call.name + " " + context, CKR_SLOT_ID_INVALID, call.run});
        else if (call.name == "C_InitToken")
            rows.push_back({call.name + " " + context, CKR_FUNCTION_NOT_SUPPORTED, call.run});
    }
}

Setup card_and_empty_reader() {
    Setup setup;
    setup.readers = {CardConfig{}, std::nullopt};  // slots 0, 1: the card; 2, 3: an empty reader
    setup.initialize = false;
    return setup;
}

}  // namespace

TEST_CASE("misuse table: every entry point, misused, answers what PKCS#11 2.40 names and never crashes",
          "[misuse]") {
    Fixture f(card_and_empty_reader());
    CK_FUNCTION_LIST* p = f.p11;
    Buffers b;
    std::size_t total = 0;
    int logins = 0;  // VERIFYs with a PIN that the table itself means to send

    // ---- before C_Initialize ------------------------------------------------------------
    {
        std::vector<Row> rows;
        add_all(rows, "before C_Initialize", every_entry_point(p, b, 0, 1, 1, true), CKR_CRYPTOKI_NOT_INITIALIZED);
        rows.push_back({"C_GetFunctionList(NULL)", CKR_ARGUMENTS_BAD, [] { return C_GetFunctionList(nullptr); }});
        rows.push_back({"C_Initialize with only some mutex callbacks", CKR_ARGUMENTS_BAD, [=] {
                            CK_C_INITIALIZE_ARGS args{};
                            args.CreateMutex = [](CK_VOID_PTR_PTR) -> CK_RV { return CKR_OK; };
                            return p->C_Initialize(&args);
                        }});
        rows.push_back({"C_Initialize pReserved (void*)1", CKR_ARGUMENTS_BAD, [=] {
                            CK_C_INITIALIZE_ARGS args{};
                            args.pReserved = reinterpret_cast<void*>(1);
                            return p->C_Initialize(&args);
                        }});
        total += run_table("before C_Initialize", rows);
    }

    REQUIRE(p->C_Initialize(nullptr) == CKR_OK);
    REQUIRE(f.slot_list(false).size() == 4);
    const CK_SESSION_HANDLE ro = f.open(auth_slot);
    const CK_SESSION_HANDLE rw = f.open(auth_slot, true);
    const CK_SESSION_HANDLE sign_session = f.open(sign_slot);
    const CK_OBJECT_HANDLE certificate = f.find_one(ro, CKO_CERTIFICATE, id_auth);
    const CK_OBJECT_HANDLE public_key = f.find_one(ro, CKO_PUBLIC_KEY, id_auth);
    // The sign token shows its CA certificate before login: a real handle of the other token.
    const CK_OBJECT_HANDLE sign_certificate = f.find_one(sign_session, CKO_CERTIFICATE, id_sign_ca);
    const CK_SESSION_HANDLE stale = f.open(auth_slot);
    REQUIRE(p->C_CloseSession(stale) == CKR_OK);

    // ---- invalid and stale handles, invalid slots ------------------------------------------
    {
        std::vector<Row> rows;
        add_bad_session(rows, "CK_INVALID_HANDLE", every_entry_point(p, b, 0, CK_INVALID_HANDLE, certificate, false));
        add_bad_session(rows, "session 0xDEADBEEF", every_entry_point(p, b, 0, 0xDEADBEEF, certificate, false));
        add_bad_session(rows, "closed session", every_entry_point(p, b, 0, stale, certificate, false));
        add_bad_slot(rows, "slot 7 (no such reader)", every_entry_point(p, b, 7, ro, certificate, false));
        add_bad_slot(rows, "slot ~0", every_entry_point(p, b, ~CK_SLOT_ID{0}, ro, certificate, false));
        total += run_table("invalid handles and slots", rows);
    }

    // ---- NULL pointers and bad arguments with a valid session --------------------------------
    {
        CK_BYTE signature[signature_size]{};
        CK_ULONG length = signature_size;
        CK_MECHANISM sha256{CKM_SHA256_RSA_PKCS, nullptr, 0};
        CK_ULONG ulong_max = ULONG_MAX;
        int not_null = 0;
        std::vector<Row> rows = {
            {"C_Initialize again", CKR_CRYPTOKI_ALREADY_INITIALIZED, [=] { return p->C_Initialize(nullptr); }},
            {"C_Finalize(non-NULL)", CKR_ARGUMENTS_BAD, [&] { return p->C_Finalize(&not_null); }},
            {"C_GetInfo(NULL)", CKR_ARGUMENTS_BAD, [=] { return p->C_GetInfo(nullptr); }},
            {"C_GetSlotList(pulCount NULL)", CKR_ARGUMENTS_BAD, [&] { return p->C_GetSlotList(CK_TRUE, b.slots, nullptr); }},
            {"C_GetSlotInfo(NULL)", CKR_ARGUMENTS_BAD, [=] { return p->C_GetSlotInfo(0, nullptr); }},
            {"C_GetTokenInfo(NULL)", CKR_ARGUMENTS_BAD, [=] { return p->C_GetTokenInfo(0, nullptr); }},
            {"C_GetMechanismList(pulCount NULL)", CKR_ARGUMENTS_BAD,
             [&] { return p->C_GetMechanismList(0, b.mechanisms, nullptr); }},
            {"C_GetMechanismInfo(NULL)", CKR_ARGUMENTS_BAD, [=] { return p->C_GetMechanismInfo(0, CKM_RSA_PKCS, nullptr); }},
            {"C_GetMechanismInfo(CKM_AES_ECB)", CKR_MECHANISM_INVALID,
             [&] { return p->C_GetMechanismInfo(0, CKM_AES_ECB, &b.mechanism_info); }},
            {"C_OpenSession(phSession NULL)", CKR_ARGUMENTS_BAD,
             [=] { return p->C_OpenSession(0, CKF_SERIAL_SESSION, nullptr, nullptr, nullptr); }},
            {"C_OpenSession without CKF_SERIAL_SESSION", CKR_SESSION_PARALLEL_NOT_SUPPORTED,
             [&] { return p->C_OpenSession(0, CKF_RW_SESSION, nullptr, nullptr, &b.new_session); }},
            {"C_OpenSession on the empty reader", CKR_TOKEN_NOT_PRESENT,
             [&] { return p->C_OpenSession(2, CKF_SERIAL_SESSION, nullptr, nullptr, &b.new_session); }},
            {"C_GetTokenInfo on the empty reader", CKR_TOKEN_NOT_PRESENT, [&] { return p->C_GetTokenInfo(3, &b.token_info); }},
            {"C_GetMechanismList on the empty reader", CKR_TOKEN_NOT_PRESENT, [&] {
                 b.count = 16;
                 return p->C_GetMechanismList(2, b.mechanisms, &b.count);
             }},
            {"C_GetMechanismInfo on the empty reader", CKR_TOKEN_NOT_PRESENT,
             [&] { return p->C_GetMechanismInfo(3, CKM_RSA_PKCS, &b.mechanism_info); }},
            {"C_GetSlotInfo on the empty reader", CKR_OK, [&] { return p->C_GetSlotInfo(2, &b.slot_info); }},
            {"C_GetSessionInfo(NULL)", CKR_ARGUMENTS_BAD, [=] { return p->C_GetSessionInfo(ro, nullptr); }},
            {"C_Login(pPin NULL)", CKR_ARGUMENTS_BAD, [=] { return p->C_Login(ro, CKU_USER, nullptr, 4); }},
            {"C_Login(pPin NULL, length 0)", CKR_ARGUMENTS_BAD, [=] { return p->C_Login(ro, CKU_USER, nullptr, 0); }},
            {"C_Login with ulPinLen ULONG_MAX", CKR_PIN_LEN_RANGE,
             [&] { return p->C_Login(ro, CKU_USER, b.pin, ULONG_MAX); }},
            {"C_Login with a 3-digit PIN", CKR_PIN_LEN_RANGE, [&] { return p->C_Login(ro, CKU_USER, b.pin, 3); }},
            {"C_Login with a letter in the 4-digit PIN", CKR_PIN_INVALID, [=] {
                 CK_UTF8CHAR pin[] = {'1', '2', 'x', '4'};
                 return p->C_Login(ro, CKU_USER, pin, 4);
             }},
            {"C_Login(CKU_SO)", CKR_USER_TYPE_INVALID, [&] { return p->C_Login(ro, CKU_SO, b.pin, 4); }},
            {"C_Login(user type 77)", CKR_USER_TYPE_INVALID, [&] { return p->C_Login(ro, 77, b.pin, 4); }},
            {"C_Login(CKU_CONTEXT_SPECIFIC) with no operation", CKR_OPERATION_NOT_INITIALIZED,
             [&] { return p->C_Login(ro, CKU_CONTEXT_SPECIFIC, b.pin, 4); }},
            {"C_SetPIN(pOldPin NULL)", CKR_ARGUMENTS_BAD, [&] { return p->C_SetPIN(rw, nullptr, 4, b.pin, 4); }},
            {"C_SetPIN(pNewPin NULL)", CKR_ARGUMENTS_BAD, [&] { return p->C_SetPIN(rw, b.pin, 4, nullptr, 4); }},
            {"C_SetPIN with ulNewLen ULONG_MAX", CKR_PIN_LEN_RANGE,
             [&] { return p->C_SetPIN(rw, b.pin, 4, b.pin, ULONG_MAX); }},
            {"C_SetPIN with ulOldLen ULONG_MAX", CKR_PIN_LEN_RANGE,
             [&] { return p->C_SetPIN(rw, b.pin, ULONG_MAX, b.pin, 4); }},
            {"C_SetPIN on a read-only session", CKR_SESSION_READ_ONLY, [&] { return p->C_SetPIN(ro, b.pin, 4, b.pin, 4); }},
            {"C_Logout when not logged in", CKR_USER_NOT_LOGGED_IN, [=] { return p->C_Logout(ro); }},
            {"C_GetAttributeValue(pTemplate NULL, 1)", CKR_ARGUMENTS_BAD,
             [=] { return p->C_GetAttributeValue(ro, certificate, nullptr, 1); }},
            {"C_GetAttributeValue(pTemplate NULL, ULONG_MAX)", CKR_ARGUMENTS_BAD,
             [&] { return p->C_GetAttributeValue(ro, certificate, nullptr, ulong_max); }},
            {"C_GetAttributeValue(object CK_INVALID_HANDLE)", CKR_OBJECT_HANDLE_INVALID,
             [&] { return p->C_GetAttributeValue(ro, CK_INVALID_HANDLE, &b.attribute, 1); }},
            {"C_GetAttributeValue(object 0xDEADBEEF)", CKR_OBJECT_HANDLE_INVALID,
             [&] { return p->C_GetAttributeValue(ro, 0xDEADBEEF, &b.attribute, 1); }},
            {"C_GetAttributeValue(the sign slot's object in an auth session)", CKR_OBJECT_HANDLE_INVALID,
             [&] { return p->C_GetAttributeValue(ro, sign_certificate, &b.attribute, 1); }},
            {"C_FindObjectsInit(pTemplate NULL, 1)", CKR_ARGUMENTS_BAD, [=] { return p->C_FindObjectsInit(ro, nullptr, 1); }},
            {"C_FindObjectsInit(pTemplate NULL, ULONG_MAX)", CKR_ARGUMENTS_BAD,
             [&] { return p->C_FindObjectsInit(ro, nullptr, ulong_max); }},
            {"C_FindObjects(phObject NULL)", CKR_ARGUMENTS_BAD, [&] { return p->C_FindObjects(ro, nullptr, 8, &b.count); }},
            {"C_FindObjects(pulObjectCount NULL)", CKR_ARGUMENTS_BAD,
             [&] { return p->C_FindObjects(ro, b.objects, 8, nullptr); }},
            {"C_SignInit(pMechanism NULL)", CKR_ARGUMENTS_BAD, [=] { return p->C_SignInit(ro, nullptr, public_key); }},
            {"C_SignInit(key CK_INVALID_HANDLE)", CKR_KEY_HANDLE_INVALID,
             [&] { return p->C_SignInit(ro, &sha256, CK_INVALID_HANDLE); }},
            {"C_SignInit(the sign slot's certificate in an auth session)", CKR_KEY_HANDLE_INVALID,
             [&] { return p->C_SignInit(ro, &sha256, sign_certificate); }},
            {"C_SignInit(a certificate)", CKR_KEY_FUNCTION_NOT_PERMITTED,
             [&] { return p->C_SignInit(ro, &sha256, certificate); }},
            {"C_SignInit(a public key)", CKR_KEY_FUNCTION_NOT_PERMITTED,
             [&] { return p->C_SignInit(ro, &sha256, public_key); }},
            {"C_Sign(pData NULL, 32)", CKR_ARGUMENTS_BAD,
             [&] { return p->C_Sign(ro, nullptr, 32, signature, &length); }},
            {"C_Sign(pulSignatureLen NULL)", CKR_ARGUMENTS_BAD, [&] { return p->C_Sign(ro, b.data, 3, signature, nullptr); }},
            {"C_SignUpdate(pPart NULL, 5)", CKR_ARGUMENTS_BAD, [=] { return p->C_SignUpdate(ro, nullptr, 5); }},
            {"C_SignFinal(pulSignatureLen NULL)", CKR_ARGUMENTS_BAD, [&] { return p->C_SignFinal(ro, signature, nullptr); }},
            {"C_VerifyInit(pMechanism NULL)", CKR_ARGUMENTS_BAD, [=] { return p->C_VerifyInit(ro, nullptr, public_key); }},
            {"C_VerifyInit(key CK_INVALID_HANDLE)", CKR_KEY_HANDLE_INVALID,
             [&] { return p->C_VerifyInit(ro, &sha256, CK_INVALID_HANDLE); }},
            {"C_VerifyInit(a certificate)", CKR_KEY_FUNCTION_NOT_PERMITTED,
             [&] { return p->C_VerifyInit(ro, &sha256, certificate); }},
            {"C_Verify(pData NULL, 5)", CKR_ARGUMENTS_BAD,
             [&] { return p->C_Verify(ro, nullptr, 5, signature, signature_size); }},
            {"C_Verify(pSignature NULL)", CKR_ARGUMENTS_BAD,
             [&] { return p->C_Verify(ro, b.data, 3, nullptr, signature_size); }},
            {"C_VerifyUpdate(pPart NULL, 5)", CKR_ARGUMENTS_BAD, [=] { return p->C_VerifyUpdate(ro, nullptr, 5); }},
            {"C_VerifyFinal(pSignature NULL)", CKR_ARGUMENTS_BAD,
             [=] { return p->C_VerifyFinal(ro, nullptr, signature_size); }},
            {"C_SeedRandom(pSeed NULL, 5)", CKR_ARGUMENTS_BAD, [=] { return p->C_SeedRandom(ro, nullptr, 5); }},
            {"C_SeedRandom on a valid session", CKR_RANDOM_NO_RNG,
             [&] { return p->C_SeedRandom(ro, b.data, 3); }},
            {"C_GenerateRandom(pRandomData NULL, 5)", CKR_ARGUMENTS_BAD, [=] { return p->C_GenerateRandom(ro, nullptr, 5); }},
            {"C_GenerateRandom of 0 bytes", CKR_RANDOM_NO_RNG, [&] { return p->C_GenerateRandom(ro, b.out, 0); }},
            {"C_WaitForSlotEvent(pSlot NULL)", CKR_ARGUMENTS_BAD,
             [=] { return p->C_WaitForSlotEvent(CKF_DONT_BLOCK, nullptr, nullptr); }},
            {"C_WaitForSlotEvent(pReserved non-NULL)", CKR_ARGUMENTS_BAD,
             [&] { return p->C_WaitForSlotEvent(CKF_DONT_BLOCK, &b.event_slot, &not_null); }},
            {"C_WaitForSlotEvent(CKF_DONT_BLOCK) with nothing new", CKR_NO_EVENT,
             [&] { return p->C_WaitForSlotEvent(CKF_DONT_BLOCK, &b.event_slot, nullptr); }},
        };
        total += run_table("bad arguments", rows);
    }

    // ---- wrong session states, operations not initialised ------------------------------------
    {
        CK_MECHANISM sha256{CKM_SHA256_RSA_PKCS, nullptr, 0};
        CK_MECHANISM raw{CKM_RSA_PKCS, nullptr, 0};
        CK_BYTE parameter[4] = {};
        CK_MECHANISM with_parameter{CKM_SHA256_RSA_PKCS, parameter, sizeof parameter};
        CK_MECHANISM aes{CKM_AES_ECB, nullptr, 0};
        Bytes signature(signature_size);
        CK_ULONG length = signature_size;
        Bytes long_data(246, 0x5A);  // CKM_RSA_PKCS on a 2048-bit key: at most 245 bytes (RFC 8017 §8.2.1)
        CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
        auto sign_init = [&](CK_MECHANISM* mechanism) { REQUIRE(p->C_SignInit(ro, mechanism, key) == CKR_OK); };
        auto full_length = [&] { length = signature_size; };
        auto end_sign = [&] {  // a completed signature ends whatever operation a row left
            full_length();
            static_cast<void>(p->C_SignFinal(ro, signature.data(), &length));
        };
        std::vector<Row> rows = {
            {"C_FindObjects without C_FindObjectsInit", CKR_OPERATION_NOT_INITIALIZED,
             [&] { return p->C_FindObjects(ro, b.objects, 8, &b.count); }},
            {"C_FindObjectsFinal without C_FindObjectsInit", CKR_OPERATION_NOT_INITIALIZED,
             [=] { return p->C_FindObjectsFinal(ro); }},
            {"C_FindObjectsInit twice", CKR_OPERATION_ACTIVE, [&] {
                 REQUIRE(p->C_FindObjectsInit(ro, nullptr, 0) == CKR_OK);
                 const CK_RV rv = p->C_FindObjectsInit(ro, nullptr, 0);
                 REQUIRE(p->C_FindObjectsFinal(ro) == CKR_OK);
                 return rv;
             }},
            {"C_FindObjects with ulMaxObjectCount 0", CKR_OK, [&] {
                 REQUIRE(p->C_FindObjectsInit(ro, nullptr, 0) == CKR_OK);
                 b.count = 99;
                 const CK_RV rv = p->C_FindObjects(ro, b.objects, 0, &b.count);
                 CHECK(b.count == 0);
                 REQUIRE(p->C_FindObjectsFinal(ro) == CKR_OK);
                 return rv;
             }},
            {"C_Sign without C_SignInit", CKR_OPERATION_NOT_INITIALIZED,
             [&] { return p->C_Sign(ro, b.data, 3, signature.data(), &length); }},
            {"C_SignUpdate without C_SignInit", CKR_OPERATION_NOT_INITIALIZED, [&] { return p->C_SignUpdate(ro, b.data, 3); }},
            {"C_SignFinal without C_SignInit", CKR_OPERATION_NOT_INITIALIZED,
             [&] { return p->C_SignFinal(ro, signature.data(), &length); }},
            {"C_Verify without C_VerifyInit", CKR_OPERATION_NOT_INITIALIZED,
             [&] { return p->C_Verify(ro, b.data, 3, signature.data(), signature_size); }},
            {"C_VerifyUpdate without C_VerifyInit", CKR_OPERATION_NOT_INITIALIZED,
             [&] { return p->C_VerifyUpdate(ro, b.data, 3); }},
            {"C_VerifyFinal without C_VerifyInit", CKR_OPERATION_NOT_INITIALIZED,
             [&] { return p->C_VerifyFinal(ro, signature.data(), signature_size); }},
            {"C_Login(CKU_USER)", CKR_OK, [&] {
                 ++logins;
                 return p->C_Login(ro, CKU_USER, b.pin, 4);
             }},
            {"C_Login(CKU_USER) again", CKR_USER_ALREADY_LOGGED_IN, [&] { return p->C_Login(ro, CKU_USER, b.pin, 4); }},
            {"C_Login(CKU_USER) again from the other session of the token", CKR_USER_ALREADY_LOGGED_IN,
             [&] { return p->C_Login(rw, CKU_USER, b.pin, 4); }},
            {"C_SignInit(CKM_AES_ECB)", CKR_MECHANISM_INVALID, [&] {
                 key = f.find_one(ro, CKO_PRIVATE_KEY, id_auth);
                 return p->C_SignInit(ro, &aes, key);
             }},
            {"C_SignInit with a mechanism parameter", CKR_MECHANISM_PARAM_INVALID,
             [&] { return p->C_SignInit(ro, &with_parameter, key); }},
            {"C_VerifyInit(a private key)", CKR_KEY_FUNCTION_NOT_PERMITTED, [&] { return p->C_VerifyInit(ro, &sha256, key); }},
            {"C_SignInit twice", CKR_OPERATION_ACTIVE, [&] {
                 sign_init(&sha256);
                 const CK_RV rv = p->C_SignInit(ro, &sha256, key);
                 end_sign();
                 return rv;
             }},
            {"C_Sign after C_SignUpdate", CKR_OPERATION_ACTIVE, [&] {
                 sign_init(&sha256);
                 REQUIRE(p->C_SignUpdate(ro, b.data, 3) == CKR_OK);
                 full_length();
                 return p->C_Sign(ro, b.data, 3, signature.data(), &length);
             }},
            {"C_SignUpdate after a completed C_Sign", CKR_OPERATION_NOT_INITIALIZED, [&] {
                 sign_init(&sha256);
                 full_length();
                 REQUIRE(p->C_Sign(ro, b.data, 3, signature.data(), &length) == CKR_OK);
                 return p->C_SignUpdate(ro, b.data, 3);
             }},
            {"C_SignFinal after a completed C_Sign", CKR_OPERATION_NOT_INITIALIZED,
             [&] { return p->C_SignFinal(ro, signature.data(), &length); }},
            {"C_Sign CKM_RSA_PKCS with 246 bytes", CKR_DATA_LEN_RANGE, [&] {
                 sign_init(&raw);
                 full_length();
                 return p->C_Sign(ro, long_data.data(), static_cast<CK_ULONG>(long_data.size()), signature.data(),
                                  &length);
             }},
            {"C_Sign after CKR_DATA_LEN_RANGE (the operation ended)", CKR_OPERATION_NOT_INITIALIZED,
             [&] { return p->C_Sign(ro, b.data, 3, signature.data(), &length); }},
            {"C_SignFinal CKM_RSA_PKCS after 200 + 46 bytes", CKR_DATA_LEN_RANGE, [&] {
                 sign_init(&raw);
                 REQUIRE(p->C_SignUpdate(ro, long_data.data(), 200) == CKR_OK);
                 REQUIRE(p->C_SignUpdate(ro, long_data.data(), 46) == CKR_OK);
                 full_length();
                 return p->C_SignFinal(ro, signature.data(), &length);
             }},
            {"C_Sign CKM_RSA_PKCS with ulDataLen ULONG_MAX (never read)", CKR_DATA_LEN_RANGE, [&] {
                 sign_init(&raw);
                 full_length();
                 return p->C_Sign(ro, b.data, ULONG_MAX, signature.data(), &length);
             }},
            {"C_Sign length query (pSignature NULL)", CKR_OK, [&] {
                 sign_init(&sha256);
                 length = 0;
                 const CK_RV rv = p->C_Sign(ro, b.data, 3, nullptr, &length);
                 CHECK(length == signature_size);
                 return rv;
             }},
            {"C_Sign after the length query (the operation stayed active)", CKR_OK, [&] {
                 full_length();
                 return p->C_Sign(ro, b.data, 3, signature.data(), &length);
             }},
            // §5.11 forbids C_Sign after C_SignUpdate, but names no error for C_SignUpdate after a
            // C_Sign length query, which leaves the operation active and unused (SoftHSM answers
            // CKR_OPERATION_ACTIVE here; the spec text gives no ground for it).
            {"C_SignUpdate after a C_Sign length query", CKR_OK, [&] {
                 sign_init(&sha256);
                 length = 0;
                 REQUIRE(p->C_Sign(ro, b.data, 3, nullptr, &length) == CKR_OK);
                 return p->C_SignUpdate(ro, b.data, 3);
             }},
            {"C_Sign after that C_SignUpdate", CKR_OPERATION_ACTIVE, [&] {
                 full_length();
                 return p->C_Sign(ro, b.data, 3, signature.data(), &length);
             }},
            {"C_FindObjectsInit with a NULL pValue of length 8", CKR_OK, [&] {
                 CK_ATTRIBUTE match{CKA_CLASS, nullptr, sizeof(CK_OBJECT_CLASS)};
                 const CK_RV rv = p->C_FindObjectsInit(ro, &match, 1);
                 b.count = 99;
                 REQUIRE(p->C_FindObjects(ro, b.objects, 8, &b.count) == CKR_OK);
                 CHECK(b.count == 0);  // matches nothing, reads nothing
                 REQUIRE(p->C_FindObjectsFinal(ro) == CKR_OK);
                 return rv;
             }},
            {"C_FindObjectsInit with CKA_CLASS of length 2", CKR_OK, [&] {
                 CK_OBJECT_CLASS object_class = CKO_CERTIFICATE;
                 CK_ATTRIBUTE match{CKA_CLASS, &object_class, 2};
                 const CK_RV rv = p->C_FindObjectsInit(ro, &match, 1);
                 b.count = 99;
                 REQUIRE(p->C_FindObjects(ro, b.objects, 8, &b.count) == CKR_OK);
                 CHECK(b.count == 0);
                 REQUIRE(p->C_FindObjectsFinal(ro) == CKR_OK);
                 return rv;
             }},
            {"C_Sign into a 10-byte buffer", CKR_BUFFER_TOO_SMALL, [&] {
                 sign_init(&sha256);
                 length = 10;
                 const CK_RV rv = p->C_Sign(ro, b.data, 3, signature.data(), &length);
                 CHECK(length == signature_size);
                 return rv;
             }},
            {"C_Sign again with room (the operation stayed active)", CKR_OK, [&] {
                 full_length();
                 const CK_RV rv = p->C_Sign(ro, b.data, 3, signature.data(), &length);
                 CHECK(length == signature_size);
                 CHECK(openssl_verifies(f.attribute(ro, certificate, CKA_VALUE), CKM_SHA256_RSA_PKCS, Bytes(b.data, b.data + 3),
                                        signature));
                 return rv;
             }},
            {"C_SignFinal into a 255-byte buffer", CKR_BUFFER_TOO_SMALL, [&] {
                 sign_init(&sha256);
                 REQUIRE(p->C_SignUpdate(ro, b.data, 3) == CKR_OK);
                 length = signature_size - 1;
                 const CK_RV rv = p->C_SignFinal(ro, signature.data(), &length);
                 CHECK(length == signature_size);
                 return rv;
             }},
            {"C_SignFinal again with room (the operation stayed active)", CKR_OK, [&] {
                 full_length();
                 const CK_RV rv = p->C_SignFinal(ro, signature.data(), &length);
                 CHECK(openssl_verifies(f.attribute(ro, certificate, CKA_VALUE), CKM_SHA256_RSA_PKCS, Bytes(b.data, b.data + 3),
                                        signature));
                 return rv;
             }},
            {"C_VerifyFinal with a 255-byte signature", CKR_SIGNATURE_LEN_RANGE, [&] {
                 REQUIRE(p->C_VerifyInit(ro, &sha256, public_key) == CKR_OK);
                 REQUIRE(p->C_VerifyUpdate(ro, b.data, 3) == CKR_OK);
                 return p->C_VerifyFinal(ro, signature.data(), signature_size - 1);
             }},
            {"C_Verify with a wrong signature", CKR_SIGNATURE_INVALID, [&] {
                 REQUIRE(p->C_VerifyInit(ro, &sha256, public_key) == CKR_OK);
                 CK_BYTE other[] = {9, 9, 9};
                 return p->C_Verify(ro, other, 3, signature.data(), signature_size);
             }},
            {"C_GetSlotList into a 0-entry buffer", CKR_BUFFER_TOO_SMALL, [&] {
                 b.count = 0;
                 const CK_RV rv = p->C_GetSlotList(CK_FALSE, b.slots, &b.count);
                 CHECK(b.count == 4);
                 return rv;
             }},
            {"C_GetMechanismList into a 1-entry buffer", CKR_BUFFER_TOO_SMALL, [&] {
                 b.count = 1;
                 const CK_RV rv = p->C_GetMechanismList(auth_slot, b.mechanisms, &b.count);
                 CHECK(b.count == 6);
                 return rv;
             }},
            {"C_GetAttributeValue(CKA_VALUE) into a 10-byte buffer", CKR_BUFFER_TOO_SMALL, [&] {
                 CK_BYTE small[10];
                 CK_ATTRIBUTE value{CKA_VALUE, small, sizeof small};
                 const CK_RV rv = p->C_GetAttributeValue(ro, certificate, &value, 1);
                 CHECK(value.ulValueLen == CK_UNAVAILABLE_INFORMATION);  // §5.7.5 rule 4
                 return rv;
             }},
            {"C_GetAttributeValue(unknown attribute type)", CKR_ATTRIBUTE_TYPE_INVALID, [&] {
                 CK_ATTRIBUTE unknown{CKA_VENDOR_DEFINED + 77, b.attribute_value, sizeof b.attribute_value};
                 const CK_RV rv = p->C_GetAttributeValue(ro, certificate, &unknown, 1);
                 CHECK(unknown.ulValueLen == CK_UNAVAILABLE_INFORMATION);
                 return rv;
             }},
            {"C_GetAttributeValue(CKA_PRIVATE_EXPONENT)", CKR_ATTRIBUTE_SENSITIVE, [&] {
                 CK_ATTRIBUTE secret{CKA_PRIVATE_EXPONENT, b.attribute_value, sizeof b.attribute_value};
                 return p->C_GetAttributeValue(ro, key, &secret, 1);
             }},
            {"C_SetPIN on a read-only session while logged in", CKR_SESSION_READ_ONLY,
             [&] { return p->C_SetPIN(ro, b.pin, 4, b.pin, 4); }},
            {"C_Sign after a C_Logout that followed C_SignInit", CKR_USER_NOT_LOGGED_IN, [&] {
                 sign_init(&sha256);
                 REQUIRE(p->C_Logout(ro) == CKR_OK);
                 full_length();
                 return p->C_Sign(ro, b.data, 3, signature.data(), &length);
             }},
            {"C_Logout again", CKR_USER_NOT_LOGGED_IN, [=] { return p->C_Logout(rw); }},
            {"C_SignInit with the private key after C_Logout (log in again)", CKR_USER_NOT_LOGGED_IN,
             [&] { return p->C_SignInit(ro, &sha256, key); }},
            {"C_GetAttributeValue of the private key after C_Logout", CKR_OBJECT_HANDLE_INVALID,
             [&] { return p->C_GetAttributeValue(ro, key, &b.attribute, 1); }},
            {"C_CloseSession", CKR_OK, [=] { return p->C_CloseSession(rw); }},
            {"C_CloseSession again", CKR_SESSION_HANDLE_INVALID, [=] { return p->C_CloseSession(rw); }},
            {"C_CloseAllSessions on the empty reader's slot", CKR_OK, [=] { return p->C_CloseAllSessions(2); }},
            {"C_GetSessionInfo after C_CloseAllSessions on another slot", CKR_OK,
             [&] { return p->C_GetSessionInfo(ro, &b.session_info); }},
        };
        total += run_table("session states", rows);
    }

    // No misuse call spent a PIN try, and only the table's own logins sent a PIN.
    CHECK(f.card()->tries_left(Pin::Auth) == jpki::vcard::auth_max_tries);
    CHECK(f.card()->tries_left(Pin::Sign) == jpki::vcard::sign_max_tries);
    CHECK(count_verify_with_data(f.apdus()) == static_cast<std::size_t>(logins));

    // ---- after C_Finalize -------------------------------------------------------------------
    REQUIRE(p->C_Finalize(nullptr) == CKR_OK);
    {
        std::vector<Row> rows;
        add_all(rows, "after C_Finalize (a session of before)", every_entry_point(p, b, 0, ro, certificate, true),
                CKR_CRYPTOKI_NOT_INITIALIZED);
        total += run_table("after C_Finalize", rows);
    }
    REQUIRE(p->C_Initialize(nullptr) == CKR_OK);
    {
        std::vector<Row> rows;
        add_bad_session(rows, "with a handle from before C_Finalize", every_entry_point(p, b, 0, ro, certificate, false));
        total += run_table("after C_Finalize and C_Initialize", rows);
    }
    CHECK(f.card()->tries_left(Pin::Auth) == jpki::vcard::auth_max_tries);
    CHECK(count_verify_with_data(f.apdus()) == static_cast<std::size_t>(logins));

    std::printf("misuse: %zu calls\n", total);
    WARN("misuse: " << total << " calls");
}

TEST_CASE("a C_SignUpdate or C_VerifyUpdate that fails ends its operation (PKCS#11 2.40 §5.11, §5.13)", "[misuse]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    REQUIRE(f.p11->C_SignInit(s, &mechanism, key) == CKR_OK);
    CHECK(f.p11->C_SignUpdate(s, nullptr, 5) == CKR_ARGUMENTS_BAD);
    CK_ULONG length = 0;
    CHECK(f.p11->C_SignFinal(s, nullptr, &length) == CKR_OPERATION_NOT_INITIALIZED);
    const CK_OBJECT_HANDLE public_key = f.find_one(s, CKO_PUBLIC_KEY, id_auth);
    REQUIRE(f.p11->C_VerifyInit(s, &mechanism, public_key) == CKR_OK);
    CHECK(f.p11->C_VerifyUpdate(s, nullptr, 5) == CKR_ARGUMENTS_BAD);
    Bytes signature(signature_size);
    CHECK(f.p11->C_VerifyFinal(s, signature.data(), signature_size) == CKR_OPERATION_NOT_INITIALIZED);
}
