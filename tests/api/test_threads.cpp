// Threads (issue 7 "Threads"): N threads x M mixed calls on both slots of one card, once with
// CKF_OS_LOCKING_OK and once with the application's mutex callbacks. Every answer must be one a
// concurrent world allows for that call (another thread may have logged the token in or out),
// never CKR_GENERAL_ERROR or a crash, and every signature returned must verify with OpenSSL.
// Also one session used by two threads at once (the spec leaves it undefined; the module must
// answer CKR_OPERATION_ACTIVE / CKR_OPERATION_NOT_INITIALIZED or serialise, never corrupt memory).
//
// Catch2 assertions are not thread-safe: workers record what they saw, the test thread checks.
// Figures are printed as "threads: ..." lines (docs/reliability.md).
#include "fixture.hpp"

#include "token/errors.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace apitest;

namespace {

constexpr int kThreads = 8;
constexpr int kCallsPerThread = 200;

// The application's mutex callbacks (§5.4 CK_C_INITIALIZE_ARGS), counting their use.
struct MutexCalls {
    std::atomic<long> create{0}, destroy{0}, lock{0}, unlock{0};
};
MutexCalls mutex_calls;

CK_RV create_mutex(CK_VOID_PTR_PTR out) {
    if (out == nullptr) return CKR_ARGUMENTS_BAD;
    *out = new std::mutex;
    ++mutex_calls.create;
    return CKR_OK;
}
CK_RV destroy_mutex(CK_VOID_PTR mutex) {
    delete static_cast<std::mutex*>(mutex);
    ++mutex_calls.destroy;
    return CKR_OK;
}
CK_RV lock_mutex(CK_VOID_PTR mutex) {
    static_cast<std::mutex*>(mutex)->lock();
    ++mutex_calls.lock;
    return CKR_OK;
}
CK_RV unlock_mutex(CK_VOID_PTR mutex) {
    ++mutex_calls.unlock;
    static_cast<std::mutex*>(mutex)->unlock();
    return CKR_OK;
}

// What the workers saw, checked afterwards on the test thread.
struct Findings {
    std::mutex guard;
    std::vector<std::string> wrong;  // "call answered X" for every answer not allowed
    std::map<std::string, std::map<CK_RV, long>> answers;
    std::atomic<long> calls{0}, signatures{0};

    void record(const std::string& call, CK_RV rv, std::initializer_list<CK_RV> allowed) {
        record(call, rv, std::vector<CK_RV>(allowed));
    }
    void record(const std::string& call, CK_RV rv, const std::vector<CK_RV>& allowed) {
        ++calls;
        std::lock_guard lock(guard);
        ++answers[call][rv];
        if (std::find(allowed.begin(), allowed.end(), rv) == allowed.end())
            wrong.push_back(call + " answered " + jpki::token::rv_name(rv));
    }
    void wrong_signature(const std::string& call) { problem(call + " returned a signature OpenSSL does not verify"); }
    void problem(const std::string& what) {
        std::lock_guard lock(guard);
        wrong.push_back(what);
    }
};

struct Token {
    CK_SLOT_ID slot;
    std::string pin;
    CK_OBJECT_HANDLE key;
    Bytes certificate;
};

// One worker: its own session on each slot for the whole run, plus short-lived ones.
void worker(CK_FUNCTION_LIST* p, const std::vector<Token>& tokens, int index, Findings& out) {
    std::mt19937 random(static_cast<unsigned>(index) * 7919U + 1U);
    std::vector<CK_SESSION_HANDLE> mine;
    for (const Token& token : tokens) {
        CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
        out.record("C_OpenSession", p->C_OpenSession(token.slot, CKF_SERIAL_SESSION, nullptr, nullptr, &session),
                   {CKR_OK});
        mine.push_back(session);
    }
    const CK_MECHANISM_TYPE mechanisms[] = {CKM_SHA256_RSA_PKCS, CKM_SHA1_RSA_PKCS, CKM_SHA512_RSA_PKCS};
    for (int call = 0; call < kCallsPerThread; ++call) {
        const std::size_t which = random() % tokens.size();
        const Token& token = tokens[which];
        const CK_SESSION_HANDLE s = mine[which];
        Bytes data(1 + random() % 64);
        for (auto& byte : data) byte = static_cast<std::uint8_t>(random());
        switch (random() % 10) {
            case 0: {
                CK_SESSION_HANDLE extra = CK_INVALID_HANDLE;
                const CK_FLAGS flags = CKF_SERIAL_SESSION | (random() % 2 ? CKF_RW_SESSION : 0);
                out.record("C_OpenSession", p->C_OpenSession(token.slot, flags, nullptr, nullptr, &extra), {CKR_OK});
                CK_SESSION_INFO info{};
                out.record("C_GetSessionInfo", p->C_GetSessionInfo(extra, &info), {CKR_OK});
                out.record("C_CloseSession", p->C_CloseSession(extra), {CKR_OK});
                break;
            }
            case 1: {
                Bytes pin = bytes_of(token.pin);
                out.record("C_Login",
                           p->C_Login(s, CKU_USER, pin.data(), static_cast<CK_ULONG>(pin.size())),
                           {CKR_OK, CKR_USER_ALREADY_LOGGED_IN});
                break;
            }
            case 2:
                // Rarer than logins, so that most signatures find the token logged in.
                if (random() % 3 == 0) out.record("C_Logout", p->C_Logout(s), {CKR_OK, CKR_USER_NOT_LOGGED_IN});
                break;
            case 3: {
                CK_OBJECT_CLASS object_class = CKO_CERTIFICATE;
                CK_ATTRIBUTE match{CKA_CLASS, &object_class, sizeof object_class};
                out.record("C_FindObjectsInit", p->C_FindObjectsInit(s, &match, 1), {CKR_OK});
                CK_OBJECT_HANDLE found[4];
                CK_ULONG count = 0;
                out.record("C_FindObjects", p->C_FindObjects(s, found, 4, &count), {CKR_OK});
                if (count == 0) out.problem("C_FindObjects found no certificate");
                out.record("C_FindObjectsFinal", p->C_FindObjectsFinal(s), {CKR_OK});
                break;
            }
            case 4: {
                CK_BYTE modulus[512];
                CK_ATTRIBUTE query{CKA_MODULUS, modulus, sizeof modulus};
                // A private object: invisible while another thread has the token logged out.
                out.record("C_GetAttributeValue", p->C_GetAttributeValue(s, token.key, &query, 1),
                           {CKR_OK, CKR_OBJECT_HANDLE_INVALID});
                break;
            }
            case 5:
            case 6: {
                const CK_MECHANISM_TYPE type = mechanisms[random() % 3];
                CK_MECHANISM mechanism{type, nullptr, 0};
                const CK_RV init = p->C_SignInit(s, &mechanism, token.key);
                // The private key is invisible while another thread has the token logged out.
                out.record("C_SignInit", init, {CKR_OK, CKR_KEY_HANDLE_INVALID, CKR_USER_NOT_LOGGED_IN});
                if (init != CKR_OK) break;
                Bytes signature(signature_size);
                CK_ULONG length = signature_size;
                CK_RV rv = CKR_OK;
                std::string name;
                if (random() % 2 == 0) {
                    name = "C_Sign";
                    rv = p->C_Sign(s, data.data(), static_cast<CK_ULONG>(data.size()), signature.data(), &length);
                } else {
                    name = "C_SignFinal";
                    const std::size_t half = data.size() / 2;
                    out.record("C_SignUpdate", p->C_SignUpdate(s, data.data(), static_cast<CK_ULONG>(half)), {CKR_OK});
                    out.record("C_SignUpdate",
                               p->C_SignUpdate(s, data.data() + half, static_cast<CK_ULONG>(data.size() - half)),
                               {CKR_OK});
                    rv = p->C_SignFinal(s, signature.data(), &length);
                }
                out.record(name, rv, {CKR_OK, CKR_USER_NOT_LOGGED_IN});
                if (rv == CKR_OK) {
                    ++out.signatures;
                    if (length != signature_size || !openssl_verifies(token.certificate, type, data, signature))
                        out.wrong_signature(name);
                }
                break;
            }
            case 7: {
                CK_TOKEN_INFO info{};
                out.record("C_GetTokenInfo", p->C_GetTokenInfo(token.slot, &info), {CKR_OK});
                break;
            }
            case 8: {
                CK_SLOT_ID slots[8];
                CK_ULONG count = 8;
                out.record("C_GetSlotList", p->C_GetSlotList(CK_TRUE, slots, &count), {CKR_OK});
                if (count != 2) out.problem("C_GetSlotList(CK_TRUE) gave " + std::to_string(count) + " slots");
                break;
            }
            default: {
                CK_BYTE bytes[16];
                out.record("C_GenerateRandom", p->C_GenerateRandom(s, bytes, sizeof bytes), {CKR_RANDOM_NO_RNG});
                break;
            }
        }
    }
    for (const CK_SESSION_HANDLE s : mine) out.record("C_CloseSession", p->C_CloseSession(s), {CKR_OK});
}

std::string summary(const Findings& findings) {
    std::ostringstream text;
    for (const auto& [call, answers] : findings.answers) {
        text << call << ":";
        for (const auto& [rv, count] : answers) text << " " << jpki::token::rv_name(rv) << " x" << count;
        text << "\n";
    }
    return text.str();
}

// Both tokens' keys and certificates, found from a session the test thread opens and closes.
std::vector<Token> tokens_of(Fixture& f) {
    std::vector<Token> tokens;
    for (const auto& [slot, pin, id] : {std::tuple{auth_slot, auth_pin, id_auth}, std::tuple{sign_slot, sign_pin, id_sign}}) {
        const CK_SESSION_HANDLE s = f.open(slot);
        f.login(s, pin);
        Token token{slot, pin, f.find_one(s, CKO_PRIVATE_KEY, id), f.attribute(s, f.find_one(s, CKO_CERTIFICATE, id), CKA_VALUE)};
        REQUIRE(f.p11->C_CloseSession(s) == CKR_OK);
        tokens.push_back(std::move(token));
    }
    return tokens;
}

void stress(Fixture& f, const std::string& locking) {
    const std::vector<Token> tokens = tokens_of(f);
    Findings findings;
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int i = 0; i < kThreads; ++i) threads.emplace_back(worker, f.p11, std::cref(tokens), i, std::ref(findings));
    for (auto& thread : threads) thread.join();

    INFO(summary(findings));
    std::printf("threads: %d threads x %d mixed operations (%ld C_* calls, %ld signatures verified), %s\n", kThreads,
                kCallsPerThread, findings.calls.load(), findings.signatures.load(), locking.c_str());
    for (std::size_t i = 0; i < std::min<std::size_t>(findings.wrong.size(), 20); ++i) UNSCOPED_INFO(findings.wrong[i]);
    CHECK(findings.wrong.empty());
    CHECK(findings.signatures > 0);
    // Correct PINs only: no try spent.
    CHECK(f.card()->tries_left(Pin::Auth) == jpki::vcard::auth_max_tries);
    CHECK(f.card()->tries_left(Pin::Sign) == jpki::vcard::sign_max_tries);
}

Setup uninitialised() {
    Setup setup;
    setup.initialize = false;
    return setup;
}

}  // namespace

TEST_CASE("threads: 8 threads x 200 mixed calls on both slots with CKF_OS_LOCKING_OK", "[threads]") {
    Fixture f(uninitialised());
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    REQUIRE(f.p11->C_Initialize(&args) == CKR_OK);
    stress(f, "CKF_OS_LOCKING_OK");
}

TEST_CASE("threads: 8 threads x 200 mixed calls on both slots with application mutex callbacks", "[threads]") {
    Fixture f(uninitialised());
    mutex_calls.create = mutex_calls.destroy = mutex_calls.lock = mutex_calls.unlock = 0;
    CK_C_INITIALIZE_ARGS args{};
    args.CreateMutex = create_mutex;
    args.DestroyMutex = destroy_mutex;
    args.LockMutex = lock_mutex;
    args.UnlockMutex = unlock_mutex;
    REQUIRE(f.p11->C_Initialize(&args) == CKR_OK);
    stress(f, "application mutex callbacks");
    REQUIRE(f.p11->C_Finalize(nullptr) == CKR_OK);
    // The module locked with the application's mutexes, balanced, and gave every one back.
    CHECK(mutex_calls.create > 0);
    CHECK(mutex_calls.lock > kThreads);
    CHECK(mutex_calls.lock == mutex_calls.unlock);
    CHECK(mutex_calls.destroy == mutex_calls.create);
}

// Without the per-session lock (LockedSession in src/token) ASan reports a heap-use-after-free
// here (issue 7 item 5); the sanitizer stage of run-tests.sh runs it.
TEST_CASE("threads: one session used by two threads at once never corrupts memory", "[threads][same-session]") {
    Fixture f;
    const std::vector<Token> tokens = tokens_of(f);
    const Token& token = tokens[0];
    const CK_SESSION_HANDLE s = f.open(token.slot);
    f.login(s, token.pin);
    CK_OBJECT_CLASS certificate_class = CKO_CERTIFICATE;
    const std::vector<CK_OBJECT_HANDLE> certificates =
        f.find(s, {{CKA_CLASS, &certificate_class, sizeof certificate_class}});
    constexpr int kIterations = 200;
    constexpr int kFindsPerSignature = 10;
    Findings findings;
    // Either thread may find the other's operation active, or ended by the other's final call;
    // a module that refuses a session busy in another thread says CKR_OPERATION_ACTIVE.
    const std::vector<CK_RV> kAllowed = {CKR_OK, CKR_OPERATION_ACTIVE, CKR_OPERATION_NOT_INITIALIZED};
    auto body = [&](int index) {
        Bytes data = bytes_of("thread " + std::to_string(index));
        CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
        for (int i = 0; i < kIterations; ++i) {
            // Searches are quick (no card I/O once the objects are known): several per signature,
            // so that the two threads' searches overlap often.
            for (int round = 0; round < kFindsPerSignature; ++round) {
                CK_OBJECT_CLASS object_class = CKO_CERTIFICATE;
                CK_ATTRIBUTE match{CKA_CLASS, &object_class, sizeof object_class};
                findings.record("C_FindObjectsInit", f.p11->C_FindObjectsInit(s, &match, 1), kAllowed);
                CK_OBJECT_HANDLE found[1];
                CK_ULONG count = 0;
                for (int batch = 0; batch < 3; ++batch) {
                    const CK_RV rv = f.p11->C_FindObjects(s, found, 1, &count);
                    findings.record("C_FindObjects", rv, kAllowed);
                    // Whatever the interleaving, a search result is one of the token's certificates.
                    if (rv == CKR_OK && (count > 1 || (count == 1 && std::find(certificates.begin(), certificates.end(),
                                                                               found[0]) == certificates.end())))
                        findings.problem("C_FindObjects returned " + std::to_string(count) + " objects, handle " +
                                         std::to_string(found[0]));
                }
                findings.record("C_FindObjectsFinal", f.p11->C_FindObjectsFinal(s), kAllowed);
            }
            findings.record("C_SignInit", f.p11->C_SignInit(s, &mechanism, token.key), kAllowed);
            Bytes signature(signature_size);
            CK_ULONG length = signature_size;
            const CK_RV rv =
                f.p11->C_Sign(s, data.data(), static_cast<CK_ULONG>(data.size()), signature.data(), &length);
            findings.record("C_Sign", rv, kAllowed);
            if (rv == CKR_OK) {
                ++findings.signatures;
                if (!openssl_verifies(token.certificate, CKM_SHA256_RSA_PKCS, data, signature))
                    findings.wrong_signature("C_Sign");
            }
        }
    };
    std::thread first(body, 1);
    std::thread second(body, 2);
    first.join();
    second.join();
    INFO(summary(findings));
    std::printf("threads: 2 threads x %d rounds of %d searches and a signature on one session (%ld C_* calls, %ld "
                "signatures verified)\n",
                kIterations, kFindsPerSignature, findings.calls.load(), findings.signatures.load());
    for (std::size_t i = 0; i < std::min<std::size_t>(findings.wrong.size(), 20); ++i) UNSCOPED_INFO(findings.wrong[i]);
    CHECK(findings.wrong.empty());
    CHECK(findings.signatures > 0);
}
