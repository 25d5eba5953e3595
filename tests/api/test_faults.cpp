// Issue 7 against the in-process card: a card that could not be opened at first look, a probe
// in flight seen from another thread, logins that must end on the card too, pcscd going away
// under a blocking C_WaitForSlotEvent, re-authentication with a wrong PIN, long reader names,
// and PIN counters spent by another program. The same faults through real pcscd are in
// tests/pcsc (pcsc.fault.*, pcsc.security.*).
#include "fixture.hpp"

#include <jpki/vcard/card.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>
#include <thread>

using namespace apitest;
using namespace std::chrono_literals;

namespace {

// SELECT of the JPKI AP (docs/card.md "Applications"), as another program sends it.
const Bytes select_jpki_ap{0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01};

// What another local program gets when it asks the card to sign with the key of `key_ef`
// without presenting any PIN: SELECT JPKI AP, SELECT key EF, COMPUTE DIGITAL SIGNATURE. "9000"
// means the card signed for anyone.
std::string sign_without_pin(Fixture& f, std::uint16_t key_ef, std::size_t reader = 0) {
    auto connection = f.readers().connect(f.reader(reader));
    jpki::transport::Transaction transaction(*connection);
    const auto sw = [](const Bytes& response) {
        char text[5];
        std::snprintf(text, sizeof text, "%02X%02X", response[response.size() - 2], response.back());
        return std::string(text);
    };
    REQUIRE(sw(connection->transmit(select_jpki_ap)) == "9000");
    const Bytes select_key{0x00, 0xA4, 0x02, 0x0C, 0x02, static_cast<std::uint8_t>(key_ef >> 8),
                           static_cast<std::uint8_t>(key_ef)};
    REQUIRE(sw(connection->transmit(select_key)) == "9000");
    Bytes sign{0x80, 0x2A, 0x00, 0x80};
    const Bytes digest_info = sha256_digest_info(bytes_of("anyone?"));
    sign.push_back(static_cast<std::uint8_t>(digest_info.size()));
    sign.insert(sign.end(), digest_info.begin(), digest_info.end());
    sign.push_back(0x00);
    return sw(connection->transmit(sign));
}

// Whether a C_WaitForSlotEvent running in `waiter` answered within `timeout`. If not, C_Finalize
// wakes it, so that a failing test fails instead of hanging in the future's destructor.
template <typename T>
bool answered_within(Fixture& f, std::future<T>& waiter, std::chrono::milliseconds timeout) {
    if (waiter.wait_for(timeout) == std::future_status::ready) return true;
    static_cast<void>(f.p11->C_Finalize(nullptr));
    waiter.wait();
    return false;
}

constexpr std::uint16_t auth_key_ef = 0x0017;
constexpr std::uint16_t sign_key_ef = 0x001A;

void login_and_sign(Fixture& f, CK_SESSION_HANDLE session, CK_SLOT_ID slot) {
    f.login(session, slot == auth_slot ? auth_pin : sign_pin);
    const std::uint8_t id = slot == auth_slot ? id_auth : id_sign;
    const Bytes data = bytes_of("before the logout");
    const Bytes signature = f.sign(session, CKM_SHA256_RSA_PKCS, f.find_one(session, CKO_PRIVATE_KEY, id), data);
    REQUIRE(openssl_verifies(pki_file(slot == auth_slot ? "auth-cert.der" : "sign-cert.der"), CKM_SHA256_RSA_PKCS,
                             data, signature));
}

CK_STATE session_state(Fixture& f, CK_SESSION_HANDLE session) {
    CK_SESSION_INFO info{};
    REQUIRE(f.p11->C_GetSessionInfo(session, &info) == CKR_OK);
    return info.state;
}

}  // namespace

// ---- item 3: a login ends on the card too --------------------------------------------------

TEST_CASE("while logged in, another program can sign without a PIN: why a logout must reach the card",
          "[faults][logout]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    login_and_sign(f, s, auth_slot);
    CHECK(sign_without_pin(f, auth_key_ef) == "9000");  // the card's state is the card's, not ours
}

TEST_CASE("after C_Logout no program can sign without a PIN: the card is reset", "[faults][logout]") {
    for (const CK_SLOT_ID slot : {auth_slot, sign_slot}) {
        Fixture f;
        const CK_SESSION_HANDLE s = f.open(slot);
        login_and_sign(f, s, slot);
        const std::size_t pins_sent = count_pin_commands(f.apdus());
        REQUIRE(f.p11->C_Logout(s) == CKR_OK);
        CHECK(f.readers().card_resets(f.reader()) == 1);
        CHECK(sign_without_pin(f, slot == auth_slot ? auth_key_ef : sign_key_ef) == "6982");
        CHECK(count_pin_commands(f.apdus()) == pins_sent);  // no PIN went out on our own
        CHECK(session_state(f, s) == CKS_RO_PUBLIC_SESSION);
        // The path back is an ordinary login.
        login_and_sign(f, s, slot);
    }
}

TEST_CASE("closing the last session of a logged-in token resets the card", "[faults][logout]") {
    Fixture f;
    const CK_SESSION_HANDLE first = f.open(sign_slot);
    const CK_SESSION_HANDLE second = f.open(sign_slot);
    login_and_sign(f, first, sign_slot);
    REQUIRE(f.p11->C_CloseSession(first) == CKR_OK);
    CHECK(f.readers().card_resets(f.reader()) == 0);  // the token still has a session
    CHECK(session_state(f, second) == CKS_RO_USER_FUNCTIONS);
    REQUIRE(f.p11->C_CloseSession(second) == CKR_OK);
    CHECK(f.readers().card_resets(f.reader()) == 1);
    CHECK(sign_without_pin(f, sign_key_ef) == "6982");
}

TEST_CASE("C_CloseAllSessions of a logged-in token resets the card", "[faults][logout]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    login_and_sign(f, s, auth_slot);
    REQUIRE(f.p11->C_CloseAllSessions(auth_slot) == CKR_OK);
    CHECK(sign_without_pin(f, auth_key_ef) == "6982");
}

TEST_CASE("C_Finalize while logged in resets the card", "[faults][logout]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(sign_slot);
    login_and_sign(f, s, sign_slot);
    REQUIRE(f.p11->C_Finalize(nullptr) == CKR_OK);
    CHECK(f.readers().card_resets(f.reader()) == 1);
    CHECK(sign_without_pin(f, sign_key_ef) == "6982");
}

TEST_CASE("no login, no reset: other programs' PIN state is left alone", "[faults][logout]") {
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    f.find(s, {});
    REQUIRE(f.p11->C_CloseSession(s) == CKR_OK);
    const CK_SESSION_HANDLE t = f.open(sign_slot);
    REQUIRE(f.p11->C_CloseAllSessions(sign_slot) == CKR_OK);
    static_cast<void>(t);
    REQUIRE(f.p11->C_Finalize(nullptr) == CKR_OK);
    CHECK(f.readers().card_resets(f.reader()) == 0);
}

TEST_CASE("logging out one token ends the other's login too (one card, one security state)", "[faults][logout]") {
    Fixture f;
    const CK_SESSION_HANDLE auth = f.open(auth_slot);
    const CK_SESSION_HANDLE sign = f.open(sign_slot);
    f.login(auth, auth_pin);
    f.login(sign, sign_pin);
    REQUIRE(f.p11->C_Logout(auth) == CKR_OK);
    CHECK(session_state(f, sign) == CKS_RO_PUBLIC_SESSION);
    CHECK_FALSE(f.find_optional(sign, CKO_PRIVATE_KEY, id_sign).has_value());
    CHECK(sign_without_pin(f, sign_key_ef) == "6982");
    // Both log in again as usual; no PIN was spent.
    f.login(sign, sign_pin);
    CHECK(f.card()->tries_left(jpki::vcard::Pin::Sign) == 5);
}

TEST_CASE("a wrong PIN in C_Login(CKU_CONTEXT_SPECIFIC) leaves the session logged in", "[faults][login]") {
    Setup setup;
    setup.env = {{"JPKI_PKCS11_ALWAYS_AUTH", "1"}};
    Fixture f(setup);
    const CK_SESSION_HANDLE s = f.open(sign_slot);
    f.login(s, sign_pin);
    const CK_OBJECT_HANDLE key = f.find_one(s, CKO_PRIVATE_KEY, id_sign);
    CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
    REQUIRE(f.p11->C_SignInit(s, &mechanism, key) == CKR_OK);
    CHECK(f.try_login(s, "WRONG1", CKU_CONTEXT_SPECIFIC) == CKR_PIN_INCORRECT);
    CHECK(session_state(f, s) == CKS_RO_USER_FUNCTIONS);
    CHECK(f.readers().card_resets(f.reader()) == 0);
}

// ---- item 1: a card that could not be opened at first look -------------------------------

TEST_CASE("a card held exclusively at first look appears once it is released, with a slot event",
          "[faults][probe]") {
    Setup setup;
    setup.initialize = false;
    Fixture f(setup);
    f.readers().hold_exclusive(f.reader(), true);
    REQUIRE(f.initialize() == CKR_OK);
    CHECK(f.slot_list(true).empty());
    CK_TOKEN_INFO info;
    CHECK(f.p11->C_GetTokenInfo(auth_slot, &info) == CKR_TOKEN_NOT_PRESENT);
    auto waiter = std::async(std::launch::async, [&] {
        CK_SLOT_ID slot = 999;
        const CK_RV rv = f.p11->C_WaitForSlotEvent(0, &slot, nullptr);
        return std::pair{rv, slot};
    });
    REQUIRE(waiter.wait_for(300ms) == std::future_status::timeout);
    f.readers().hold_exclusive(f.reader(), false);
    // Retried with a back-off of at most 2 s; the blocked wait sees it too.
    REQUIRE(answered_within(f, waiter, 5s));
    const auto [rv, slot] = waiter.get();
    CHECK(rv == CKR_OK);
    CHECK((slot == auth_slot || slot == sign_slot));
    CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{auth_slot, sign_slot});
    CHECK(text(f.token_info(auth_slot).label) == "JPKI (User Authentication PIN)");
}

TEST_CASE("a card held exclusively at first look: C_GetSlotList finds it on a later call", "[faults][probe]") {
    Setup setup;
    setup.initialize = false;
    Fixture f(setup);
    f.readers().hold_exclusive(f.reader(), true);
    REQUIRE(f.initialize() == CKR_OK);
    CHECK(f.slot_list(true).empty());
    f.readers().hold_exclusive(f.reader(), false);
    std::vector<CK_SLOT_ID> slots;
    for (int i = 0; i < 60 && slots.empty(); ++i) {
        std::this_thread::sleep_for(100ms);
        slots = f.slot_list(true);
    }
    CHECK(slots == std::vector<CK_SLOT_ID>{auth_slot, sign_slot});
    const auto events = f.drain_events();
    CHECK(std::count(events.begin(), events.end(), auth_slot) >= 1);
    CHECK(std::count(events.begin(), events.end(), sign_slot) >= 1);
}

// ---- item 2: a probe in flight ----------------------------------------------------------------

TEST_CASE("a thread never sees a reader as empty while another thread probes its card", "[faults][probe]") {
    Setup setup;
    setup.initialize = false;
    CardConfig slow;
    slow.apdu_latency = 100ms;
    setup.readers = {slow};
    Fixture f(setup);
    REQUIRE(f.initialize() == CKR_OK);
    const std::uint64_t before = f.readers().transmitted(f.reader());
    // No Catch2 assertion in the other thread: Catch2 is not thread-safe.
    auto first = std::async(std::launch::async, [&] {
        CK_ULONG count = 0;
        if (f.p11->C_GetSlotList(CK_TRUE, nullptr, &count) != CKR_OK) return std::vector<CK_SLOT_ID>{999};
        std::vector<CK_SLOT_ID> slots(count);
        if (f.p11->C_GetSlotList(CK_TRUE, slots.data(), &count) != CKR_OK) return std::vector<CK_SLOT_ID>{999};
        slots.resize(count);
        return slots;
    });
    // Wait until the first thread's probe has reached the card, then look from this thread.
    for (int i = 0; i < 200 && f.readers().transmitted(f.reader()) == before; ++i) std::this_thread::sleep_for(5ms);
    REQUIRE(f.readers().transmitted(f.reader()) > before);
    CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{auth_slot, sign_slot});
    CK_TOKEN_INFO info;
    CHECK(f.p11->C_GetTokenInfo(auth_slot, &info) == CKR_OK);
    CHECK(first.get() == std::vector<CK_SLOT_ID>{auth_slot, sign_slot});
}

// ---- item 6: pcscd going away under a blocking wait ---------------------------------------

TEST_CASE("a blocking C_WaitForSlotEvent keeps waiting while pcscd is down and reports the token when it is back",
          "[faults][wait]") {
    Fixture f;
    CHECK(f.slot_list(true).size() == 2);
    f.drain_events();
    f.readers().set_service_running(false);
    // The first answer may be the removal; after that the wait must go on, not fail.
    CK_SLOT_ID slot = 999;
    const CK_RV first = f.p11->C_WaitForSlotEvent(0, &slot, nullptr);
    CHECK(first == CKR_OK);
    auto waiter = std::async(std::launch::async, [&] {
        CK_SLOT_ID next = 999;
        CK_RV rv = CKR_OK;
        // Drain the removal of the second slot, then wait for the return.
        for (int i = 0; i < 4; ++i) {
            rv = f.p11->C_WaitForSlotEvent(0, &next, nullptr);
            if (rv != CKR_OK) break;
            CK_SLOT_INFO info;
            if (f.p11->C_GetSlotInfo(next, &info) == CKR_OK && (info.flags & CKF_TOKEN_PRESENT) != 0) break;
        }
        return std::pair{rv, next};
    });
    CHECK(waiter.wait_for(1500ms) == std::future_status::timeout);  // still waiting, no error
    f.readers().set_service_running(true);
    REQUIRE(answered_within(f, waiter, 5s));
    const auto [rv, next] = waiter.get();
    CHECK(rv == CKR_OK);
    CHECK((next == auth_slot || next == sign_slot));
    CHECK(f.slot_list(true).size() == 2);
}

TEST_CASE("C_Finalize wakes a C_WaitForSlotEvent that waits for pcscd to come back", "[faults][wait]") {
    Fixture f;
    CHECK(f.slot_list(true).size() == 2);
    f.readers().set_service_running(false);
    f.drain_events();
    auto waiter = std::async(std::launch::async, [&] {
        CK_SLOT_ID slot = 999;
        return f.p11->C_WaitForSlotEvent(0, &slot, nullptr);
    });
    REQUIRE(waiter.wait_for(300ms) == std::future_status::timeout);
    REQUIRE(f.p11->C_Finalize(nullptr) == CKR_OK);
    REQUIRE(waiter.wait_for(3s) == std::future_status::ready);
    CHECK(waiter.get() == CKR_CRYPTOKI_NOT_INITIALIZED);
}

// ---- item 6: PIN counters another program spent, long reader names ------------------------

TEST_CASE("C_GetTokenInfo shows tries another program spent within seconds", "[faults][flags]") {
    Fixture f;
    CHECK((f.token_info(auth_slot).flags & CKF_USER_PIN_COUNT_LOW) == 0);
    {
        // Another program: a wrong PIN, one try spent.
        auto connection = f.readers().connect(f.reader());
        jpki::transport::Transaction transaction(*connection);
        connection->transmit(select_jpki_ap);
        connection->transmit(Bytes{0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18});
        const Bytes answer = connection->transmit(Bytes{0x00, 0x20, 0x00, 0x80, 0x04, '9', '9', '9', '9'});
        REQUIRE(answer == Bytes{0x63, 0xC2});
    }
    CK_FLAGS flags = 0;
    for (int i = 0; i < 80 && (flags & CKF_USER_PIN_COUNT_LOW) == 0; ++i) {
        std::this_thread::sleep_for(100ms);
        flags = f.token_info(auth_slot).flags;
    }
    CHECK((flags & CKF_USER_PIN_COUNT_LOW) != 0);
}

TEST_CASE("long reader names are cut on a character boundary and stay distinct", "[faults][slots]") {
    // Over 64 bytes, with 3-byte characters across the 64-byte mark; two readers of one model.
    const std::string base = "とても長い名前のスマートカードリーダー Contactless Reader";
    REQUIRE(base.size() > 64);
    Setup setup;
    setup.readers = {CardConfig{}, std::nullopt};
    setup.reader_names = {base + " 00 00", base + " 01 00"};
    Fixture f(setup);
    std::set<std::string> descriptions;
    for (const CK_SLOT_ID slot : {CK_SLOT_ID{0}, CK_SLOT_ID{2}}) {
        const CK_SLOT_INFO info = f.slot_info(slot);
        const std::string description = text(info.slotDescription);
        INFO(description);
        CHECK(description.size() <= 64);
        // Valid UTF-8 all through: no sequence cut short.
        std::size_t i = 0;
        bool valid = true;
        while (i < description.size()) {
            const auto lead = static_cast<unsigned char>(description[i]);
            const std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
            if (length == 0 || i + length > description.size()) { valid = false; break; }
            for (std::size_t k = 1; k < length; ++k)
                if ((static_cast<unsigned char>(description[i + k]) & 0xC0) != 0x80) valid = false;
            i += length;
        }
        CHECK(valid);
        descriptions.insert(description);
    }
    CHECK(descriptions.size() == 2);
}

TEST_CASE("after another program resets the card, C_GetSessionInfo shows the session public at once",
          "[faults][logout]") {
    // What an application sharing the card sees when another one logs out (and so resets the
    // card): NSS checks C_GetSessionInfo before signing and then asks for the PIN again.
    Fixture f;
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    login_and_sign(f, s, auth_slot);
    const std::size_t apdus_before = f.apdus().size();
    f.reset_by_other_program(0);
    CHECK(session_state(f, s) == CKS_RO_PUBLIC_SESSION);
    CHECK(f.apdus().size() == apdus_before);  // no APDU needed to notice
    login_and_sign(f, s, auth_slot);
}
