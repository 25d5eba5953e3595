// Card events (docs/design.md §3 "Sessions, events, threads"): removal, re-insertion, a reset by
// another program, C_WaitForSlotEvent (non-blocking, blocking, woken by C_Finalize), and
// concurrent signing from several threads.
#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

using namespace apitest;
using namespace std::chrono_literals;

TEST_CASE("card removal: a call that reaches the card answers CKR_DEVICE_REMOVED, then the sessions are gone",
          "[events]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    const CK_SESSION_HANDLE other = f.open(sign_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    REQUIRE(f.p11->C_SignInit(s, &mechanism, key) == CKR_OK);

    f.remove(0);

    Bytes data = bytes_of("gone");
    Bytes signature(256);
    CK_ULONG length = 256;
    const CK_RV rv = f.p11->C_Sign(s, data.data(), static_cast<CK_ULONG>(data.size()), signature.data(), &length);
    CHECK((rv == CKR_DEVICE_REMOVED || rv == CKR_SESSION_HANDLE_INVALID));
    CK_SESSION_INFO info;
    CHECK(f.p11->C_GetSessionInfo(s, &info) == CKR_SESSION_HANDLE_INVALID);
    CHECK(f.p11->C_GetSessionInfo(other, &info) == CKR_SESSION_HANDLE_INVALID);
    CHECK(f.p11->C_CloseSession(s) == CKR_SESSION_HANDLE_INVALID);
}

TEST_CASE("card removal: slot info shows no token, the slots stay, C_OpenSession answers CKR_TOKEN_NOT_PRESENT",
          "[events]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.remove(0);
    for (const CK_SLOT_ID slot : {auth_slot, sign_slot}) {
        CHECK((f.slot_info(slot).flags & CKF_TOKEN_PRESENT) == 0);
        CK_TOKEN_INFO token;
        CHECK(f.p11->C_GetTokenInfo(slot, &token) == CKR_TOKEN_NOT_PRESENT);
        CK_SESSION_HANDLE session = 0;
        CHECK(f.p11->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &session) == CKR_TOKEN_NOT_PRESENT);
        CK_ULONG count = 0;
        CHECK(f.p11->C_GetMechanismList(slot, nullptr, &count) == CKR_TOKEN_NOT_PRESENT);
    }
    CHECK(f.slot_list(false) == std::vector<CK_SLOT_ID>{0, 1});
    CHECK(f.slot_list(true).empty());
    // The module noticed while looking at the slot: the session went with the card.
    CK_SESSION_INFO info;
    CHECK(f.p11->C_GetSessionInfo(s, &info) == CKR_SESSION_HANDLE_INVALID);
}

TEST_CASE("a re-inserted card is back with the same slot IDs and new sessions work", "[events]") {
    Fixture f;
    const CK_SESSION_HANDLE old = f.open(auth_slot);
    f.login(old, auth_pin);
    f.remove(0);
    CHECK(f.slot_list(true).empty());
    f.insert(0, CardConfig{});
    CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{0, 1});
    CHECK((f.slot_info(auth_slot).flags & CKF_TOKEN_PRESENT) != 0);
    CHECK(text(f.token_info(sign_slot).label) == "JPKI (Digital Signature PIN)");
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    CHECK(s != old);
    // Not logged in on the new card: its PIN state is its own.
    CK_SESSION_INFO info{};
    REQUIRE(f.p11->C_GetSessionInfo(s, &info) == CKR_OK);
    CHECK(info.state == CKS_RO_PUBLIC_SESSION);
    f.login(s, auth_pin);
    const Bytes data = bytes_of("back again");
    CHECK(openssl_verifies(pki_file("auth-cert.der"), CKM_SHA256_RSA_PKCS, data,
                           f.sign(s, CKM_SHA256_RSA_PKCS, f.find_one(s, CKO_PRIVATE_KEY, id_auth), data)));
}

TEST_CASE("a card swapped between calls: the old session does not reach the new card", "[events]") {
    Fixture f;
    const CK_SESSION_HANDLE old = f.open(auth_slot);
    f.login(old, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(old, CKO_PRIVATE_KEY, id_auth);
    f.remove(0);
    f.insert(0, CardConfig{});
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    const CK_RV init = f.p11->C_SignInit(old, &mechanism, key);
    if (init == CKR_OK) {
        Bytes data = bytes_of("swap");
        Bytes signature(256);
        CK_ULONG length = 256;
        const CK_RV rv = f.p11->C_Sign(old, data.data(), 4, signature.data(), &length);
        CHECK((rv == CKR_DEVICE_REMOVED || rv == CKR_SESSION_HANDLE_INVALID));
    } else {
        CHECK((init == CKR_DEVICE_REMOVED || init == CKR_SESSION_HANDLE_INVALID));
    }
    // No signature was made with the new card's key on the old login.
    const auto apdus = f.apdus();
    CHECK(std::none_of(apdus.begin(), apdus.end(), [](const std::string& l) { return l.starts_with("802A"); }));
}

// A quick swap (removed and another card inserted between two calls, no call in between): the
// reader shows a card before and after, only its event counter moved on. Calls that name the
// slot must see the card now in the reader, not the one that left (new-user test: a new session
// showed the old card's serial and certificates, and a session opened after a re-insertion
// answered CKR_DEVICE_REMOVED to C_Login).
TEST_CASE("a card swapped between calls: token info, new sessions and their objects are the new card's", "[events]") {
    Fixture f;
    const CK_SESSION_HANDLE old = f.open(auth_slot);
    const std::string first_serial = text(f.token_info(auth_slot).serialNumber);
    const CK_OBJECT_HANDLE old_cert = f.find_one(old, CKO_CERTIFICATE, id_auth);
    CHECK((f.attribute(old, old_cert, CKA_VALUE) == pki_file("auth-cert.der")));
    f.remove(0);
    CardConfig second;
    second.pki_dir = std::string(JPKI_TEST_PKI_DIR) + "/card2";
    f.insert(0, second);

    CHECK(text(f.token_info(auth_slot).serialNumber) != first_serial);
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    const CK_OBJECT_HANDLE cert = f.find_one(s, CKO_CERTIFICATE, id_auth);
    CHECK((f.attribute(s, cert, CKA_VALUE) == pki_file("card2/auth-cert.der")));
    // The session opened on the card that left is gone.
    CK_SESSION_INFO info;
    CHECK(f.p11->C_GetSessionInfo(old, &info) == CKR_SESSION_HANDLE_INVALID);
    CHECK(f.p11->C_FindObjectsInit(old, nullptr, 0) == CKR_SESSION_HANDLE_INVALID);
}

TEST_CASE("a card re-inserted between calls: a session opened afterwards logs in and signs", "[events]") {
    Fixture f;
    const CK_SESSION_HANDLE old = f.open(auth_slot);
    static_cast<void>(f.find_one(old, CKO_CERTIFICATE, id_auth));
    f.remove(0);
    f.insert(0, CardConfig{});
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    CHECK(f.try_login(s, auth_pin) == CKR_OK);
    const Bytes data = bytes_of("re-inserted");
    CHECK(openssl_verifies(pki_file("auth-cert.der"), CKM_SHA256_RSA_PKCS, data,
                           f.sign(s, CKM_SHA256_RSA_PKCS, f.find_one(s, CKO_PRIVATE_KEY, id_auth), data)));
    CK_SESSION_INFO info;
    CHECK(f.p11->C_GetSessionInfo(old, &info) == CKR_SESSION_HANDLE_INVALID);
}

TEST_CASE("a reset by another program drops the login: C_Sign answers CKR_USER_NOT_LOGGED_IN, no PIN re-sent",
          "[events][trace]") {
    const bool reselect_clears = GENERATE(false, true);
    INFO("reselect_clears=" << reselect_clears);
    Fixture f(one_card([&](CardConfig& c) { c.reselect_clears = reselect_clears; }));
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    const Bytes data = bytes_of("before the reset");
    CHECK(f.sign(s, CKM_SHA256_RSA_PKCS, key, data).size() == 256);

    // The application starts its next signature; meanwhile another program resets the card.
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    REQUIRE(f.p11->C_SignInit(s, &mechanism, key) == CKR_OK);
    f.reset_by_other_program(0);

    Bytes after = bytes_of("after the reset");
    Bytes signature(256);
    CK_ULONG length = 256;
    CHECK(f.p11->C_Sign(s, after.data(), static_cast<CK_ULONG>(after.size()), signature.data(), &length) ==
          CKR_USER_NOT_LOGGED_IN);
    const auto apdus = f.apdus();
    // One PKCS#1 signature (P1 00): the one before the reset; none after it.
    CHECK(count_prefix(apdus, "802A00") == 1);
    CHECK(count_verify_with_data(f.apdus()) == 1);
    CK_SESSION_INFO info{};
    REQUIRE(f.p11->C_GetSessionInfo(s, &info) == CKR_OK);
    CHECK(info.state == CKS_RO_PUBLIC_SESSION);

    // A fresh login on the same session works, and signs.
    f.login(s, auth_pin);
    CHECK(count_verify_with_data(f.apdus()) == 2);
    CHECK(openssl_verifies(pki_file("auth-cert.der"), CKM_SHA256_RSA_PKCS, after,
                           f.sign(s, CKM_SHA256_RSA_PKCS, f.find_one(s, CKO_PRIVATE_KEY, id_auth), after)));
}

TEST_CASE("a reset by another program between C_SignInit calls: the key is gone until the next login", "[events]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.login(s, auth_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_auth);
    f.reset_by_other_program(0);
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    const CK_RV init = f.p11->C_SignInit(s, &mechanism, key);
    if (init == CKR_OK) {
        // The module learns of the reset only when it talks to the card.
        Bytes data = bytes_of("x");
        Bytes signature(256);
        CK_ULONG length = 256;
        CHECK(f.p11->C_Sign(s, data.data(), 1, signature.data(), &length) == CKR_USER_NOT_LOGGED_IN);
    } else {
        CHECK(init == CKR_KEY_HANDLE_INVALID);
    }
    CHECK(count_verify_with_data(f.apdus()) == 1);
    f.login(s, auth_pin);
    CHECK(f.sign(s, CKM_SHA256_RSA_PKCS, f.find_one(s, CKO_PRIVATE_KEY, id_auth), bytes_of("y")).size() == 256);
}

TEST_CASE("removing the card from one reader leaves the other reader's sessions and login alone", "[events]") {
    Setup setup;
    setup.readers = {CardConfig{}, CardConfig{}};
    Fixture f(setup);
    const CK_SESSION_HANDLE first = f.open(0);
    const CK_SESSION_HANDLE second = f.open(2);
    f.login(first, auth_pin);
    f.login(second, auth_pin);
    f.remove(0);
    CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{2, 3});
    CK_SESSION_INFO info{};
    CHECK(f.p11->C_GetSessionInfo(first, &info) == CKR_SESSION_HANDLE_INVALID);
    REQUIRE(f.p11->C_GetSessionInfo(second, &info) == CKR_OK);
    CHECK(info.state == CKS_RO_USER_FUNCTIONS);
    CHECK(info.slotID == 2);
    const Bytes data = bytes_of("reader 1");
    CHECK(openssl_verifies(pki_file("auth-cert.der"), CKM_SHA256_RSA_PKCS, data,
                           f.sign(second, CKM_SHA256_RSA_PKCS, f.find_one(second, CKO_PRIVATE_KEY, id_auth), data)));
}

TEST_CASE("a reset by another program while the token is idle: the next login and sign work", "[events]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(sign_slot);
    CHECK(f.find(s, {}).size() == 1);
    f.reset_by_other_program(0);
    CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{0, 1});
    // Whether the module kept or closed the session over the reset, a session works now.
    CK_SESSION_INFO info;
    const CK_SESSION_HANDLE session = f.p11->C_GetSessionInfo(s, &info) == CKR_OK ? s : f.open(sign_slot);
    f.login(session, sign_pin);
    const Bytes data = bytes_of("idle reset");
    CHECK(openssl_verifies(pki_file("sign-cert.der"), CKM_SHA1_RSA_PKCS, data,
                           f.sign(session, CKM_SHA1_RSA_PKCS, f.find_one(session, CKO_PRIVATE_KEY, id_sign), data)));
}

TEST_CASE("C_WaitForSlotEvent with CKF_DONT_BLOCK answers CKR_NO_EVENT when nothing happened", "[events][wait]") {
    Fixture f;
    CHECK(f.slot_list(true).size() == 2);
    f.drain_events();  // whatever the first look at the readers reported
    CK_SLOT_ID slot = 999;
    CHECK(f.p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, nullptr) == CKR_NO_EVENT);
    CHECK(f.p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, nullptr) == CKR_NO_EVENT);
}

TEST_CASE("C_WaitForSlotEvent with CKF_DONT_BLOCK reports the slots of an inserted and a removed card",
          "[events][wait]") {
    Setup setup;
    setup.readers = {CardConfig{}, std::nullopt};
    Fixture f(setup);
    CHECK(f.slot_list(false).size() == 4);
    f.drain_events();
    f.insert(1, CardConfig{});
    auto slots = f.drain_events();
    std::sort(slots.begin(), slots.end());
    CHECK(slots == std::vector<CK_SLOT_ID>{2, 3});
    f.remove(0);
    slots = f.drain_events();
    std::sort(slots.begin(), slots.end());
    CHECK(slots == std::vector<CK_SLOT_ID>{0, 1});
    CK_SLOT_ID slot = 999;
    CHECK(f.p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, nullptr) == CKR_NO_EVENT);
}

TEST_CASE("C_WaitForSlotEvent reports only the slots of the profile", "[events][wait][profile]") {
    Setup setup;
    setup.readers = {std::nullopt};
    setup.env = {{"JPKI_PKCS11_SLOTS", "sign"}};
    Fixture f(setup);
    CHECK(f.slot_list(false) == std::vector<CK_SLOT_ID>{1});
    f.drain_events();
    f.insert(0, CardConfig{});
    CHECK(f.drain_events() == std::vector<CK_SLOT_ID>{1});
}

TEST_CASE("a blocking C_WaitForSlotEvent returns the slot when a card arrives", "[events][wait]") {
    Setup setup;
    setup.readers = {std::nullopt};
    Fixture f(setup);
    CHECK(f.slot_list(false).size() == 2);
    f.drain_events();
    auto waiter = std::async(std::launch::async, [&] {
        CK_SLOT_ID slot = 999;
        const CK_RV rv = f.p11->C_WaitForSlotEvent(0, &slot, nullptr);
        return std::pair{rv, slot};
    });
    std::this_thread::sleep_for(100ms);
    f.insert(0, CardConfig{});
    REQUIRE(waiter.wait_for(5s) == std::future_status::ready);
    const auto [rv, slot] = waiter.get();
    CHECK(rv == CKR_OK);
    CHECK((slot == 0 || slot == 1));
}

TEST_CASE("a blocking C_WaitForSlotEvent is woken by C_Finalize with CKR_CRYPTOKI_NOT_INITIALIZED", "[events][wait]") {
    Fixture f;
    CHECK(f.slot_list(false).size() == 2);
    f.drain_events();
    auto waiter = std::async(std::launch::async, [&] {
        CK_SLOT_ID slot = 999;
        return f.p11->C_WaitForSlotEvent(0, &slot, nullptr);
    });
    // Let it block first.
    REQUIRE(waiter.wait_for(200ms) == std::future_status::timeout);
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(f.p11->C_Finalize(nullptr) == CKR_OK);
    REQUIRE(waiter.wait_for(3s) == std::future_status::ready);
    CHECK(waiter.get() == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(std::chrono::steady_clock::now() - start < 2s);
}

TEST_CASE("a blocking C_WaitForSlotEvent waits without a timeout; C_Finalize cancels it", "[events][wait]") {
    // Issue 11: event-driven, no 1 s polling slices (an idle process uses no CPU).
    Fixture f;
    CHECK(f.slot_list(false).size() == 2);
    f.drain_events();
    wait_record().reset();
    auto waiter = std::async(std::launch::async, [&] {
        CK_SLOT_ID slot = 999;
        return f.p11->C_WaitForSlotEvent(0, &slot, nullptr);
    });
    REQUIRE(waiter.wait_for(1500ms) == std::future_status::timeout);
    CHECK(wait_record().waits == 1);  // one wait, not one per second
    CHECK(wait_record().shortest_ms >= jpki::transport::wait_forever.count());
    REQUIRE(f.p11->C_Finalize(nullptr) == CKR_OK);
    REQUIRE(waiter.wait_for(5s) == std::future_status::ready);
    CHECK(waiter.get() == CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(wait_record().cancels >= 1);
}

TEST_CASE("four threads, each with its own session, log in once and sign 20 times concurrently", "[threads]") {
    Setup setup;
    setup.reserved = "slots=both";  // C_Initialize with CKF_OS_LOCKING_OK (and pReserved)
    Fixture f(setup);
    CHECK(f.slot_list(true).size() == 2);
    constexpr int kThreads = 4;
    constexpr int kSignatures = 20;
    const Bytes auth_certificate = pki_file("auth-cert.der");
    const Bytes sign_certificate = pki_file("sign-cert.der");
    std::vector<std::future<int>> workers;
    for (int t = 0; t < kThreads; ++t) {
        workers.push_back(std::async(std::launch::async, [&, t] {
            // Threads 0 and 2 use the auth token, 1 and 3 the sign token.
            const bool auth = t % 2 == 0;
            int good = 0;
            CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
            if (f.p11->C_OpenSession(auth ? auth_slot : sign_slot, CKF_SERIAL_SESSION, nullptr, nullptr, &s) != CKR_OK)
                return -1;
            Bytes pin = bytes_of(auth ? auth_pin : sign_pin);
            const CK_RV login = f.p11->C_Login(s, CKU_USER, pin.data(), static_cast<CK_ULONG>(pin.size()));
            if (login != CKR_OK && login != CKR_USER_ALREADY_LOGGED_IN) return -2;
            // Find the key without Catch2 assertions (not thread-safe in Catch2 2.x).
            CK_OBJECT_CLASS key_class = CKO_PRIVATE_KEY;
            CK_ATTRIBUTE match{CKA_CLASS, &key_class, sizeof key_class};
            CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
            CK_ULONG found = 0;
            if (f.p11->C_FindObjectsInit(s, &match, 1) != CKR_OK) return -3;
            if (f.p11->C_FindObjects(s, &key, 1, &found) != CKR_OK || found != 1) return -4;
            if (f.p11->C_FindObjectsFinal(s) != CKR_OK) return -5;
            for (int i = 0; i < kSignatures; ++i) {
                Bytes data = bytes_of("thread " + std::to_string(t) + " signature " + std::to_string(i));
                CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
                Bytes signature(256);
                CK_ULONG length = 256;
                if (f.p11->C_SignInit(s, &mechanism, key) != CKR_OK) continue;
                if (f.p11->C_Sign(s, data.data(), static_cast<CK_ULONG>(data.size()), signature.data(), &length) !=
                    CKR_OK)
                    continue;
                if (openssl_verifies(auth ? auth_certificate : sign_certificate, CKM_SHA256_RSA_PKCS, data, signature))
                    ++good;
            }
            return good;
        }));
    }
    for (int t = 0; t < kThreads; ++t) {
        INFO("thread " << t);
        CHECK(workers[t].get() == kSignatures);
    }
    // One VERIFY per PIN: the other thread of the same token found it logged in.
    CHECK(count_verify_with_data(f.apdus()) == 2);
}

TEST_CASE("C_WaitForSlotEvent right after C_Initialize: a card already present is no event",
          "[events][wait]") {
    Fixture f;
    CK_SLOT_ID slot = 999;
    CHECK(f.p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, nullptr) == CKR_NO_EVENT);
    CHECK(f.slot_list(true).size() == 2);
    CHECK(f.p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, nullptr) == CKR_NO_EVENT);
}
