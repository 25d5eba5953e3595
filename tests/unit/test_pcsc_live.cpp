// PcscTransport against a real pcscd serving the virtual My Number Card. Hidden from the default
// run and from ctest discovery (tag [.]); run through the PC/SC fixture:
//   tests/pcsc/with-vcard.sh -- <build>/tests/unit/unit_tests "[pcscd]"
//   tests/pcsc/with-vcard.sh -- <build>/tests/unit/unit_tests "[pcscd-removal]"
//   tests/pcsc/with-vcard.sh -- <build>/tests/unit/unit_tests "[pcscd-stop]"
//   tests/pcsc/with-vcard.sh -- <build>/tests/unit/unit_tests "[pcscd-busy]"
//   tests/pcsc/with-vcard.sh --sign-latency-ms 3000 -- <build>/tests/unit/unit_tests "[pcscd-removal-mid-apdu]"
// (all but the first kill the card or pcscd or hold it, so each gets a fixture of its own).
#include "crypto/certificate.hpp"
#include "crypto/rsa.hpp"
#include "jpki/transport.hpp"
#include "test_crypto_support.hpp"
#include "transport/pcsc.hpp"

#include <catch2/catch.hpp>

#include <PCSC/winscard.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

using namespace jpki;
using namespace jpki::transport;
using jpki::crypto_test::from_hex;
using jpki::crypto_test::to_hex;

namespace {

std::string vcard_reader() {
    const char* name = std::getenv("JPKI_VCARD_READER");
    if (name == nullptr) FAIL("run me through tests/pcsc/with-vcard.sh (JPKI_VCARD_READER unset)");
    return name;
}

std::string status_word(const Bytes& response) {
    REQUIRE(response.size() >= 2);
    return to_hex(Bytes(response.end() - 2, response.end()));
}

Bytes send(Connection& connection, std::string_view hex) { return connection.transmit(from_hex(hex)); }

void select_jpki(Connection& c) { CHECK(status_word(send(c, "00A4040C0AD392F000260100000001")) == "9000"); }

// READ BINARY the certificate EF (already selected): the DER header gives the length, the EF's
// filler after it is left unread.
Bytes read_certificate(Connection& c) {
    const Bytes head = send(c, "00B0000004");
    REQUIRE(status_word(head) == "9000");
    REQUIRE(head[0] == 0x30);
    REQUIRE(head[1] == 0x82);
    const std::size_t total = 4 + (std::size_t{head[2]} << 8 | head[3]);
    Bytes der;
    while (der.size() < total) {
        const std::size_t chunk = std::min<std::size_t>(total - der.size(), 256);
        Bytes apdu{0x00, 0xB0, static_cast<std::uint8_t>(der.size() >> 8),
                   static_cast<std::uint8_t>(der.size() & 0xFF), static_cast<std::uint8_t>(chunk & 0xFF)};
        Bytes response = c.transmit(apdu);
        REQUIRE(status_word(response) == "9000");
        REQUIRE(response.size() == chunk + 2);
        der.insert(der.end(), response.begin(), response.end() - 2);
    }
    return der;
}

}  // namespace

TEST_CASE("pcsc live: readers, ATR and event counter", "[.][pcscd]") {
    PcscTransport transport;
    const std::string reader = vcard_reader();
    const auto readers = transport.readers();
    bool found = false;
    for (const ReaderStatus& r : readers) {
        if (r.name != reader) continue;
        found = true;
        CHECK(r.card_present);
        CHECK(to_hex(r.atr) == "3be000ff8131fe4514");
    }
    CHECK(found);
    // Nothing changed since readers(): a non-blocking wait says so.
    CHECK_FALSE(transport.wait_for_change(std::chrono::milliseconds(0)));
    CHECK_FALSE(transport.wait_for_change(std::chrono::milliseconds(300)));
    CHECK_THROWS_AS(transport.connect("No Such Reader 00 00"), ServiceUnavailable);
}

TEST_CASE("pcsc live: read the certificate, log in and sign over the real stack", "[.][pcscd]") {
    PcscTransport transport;
    crypto::Context context;
    const auto connection = transport.connect(vcard_reader());
    CHECK(to_hex(connection->atr()) == "3be000ff8131fe4514");

    const Transaction transaction(*connection);
    select_jpki(*connection);
    CHECK(status_word(send(*connection, "00A4020C02000A")) == "9000");
    const crypto::Certificate cert(context, read_certificate(*connection));
    CHECK(cert.der() == jpki::crypto_test::read_pki_file("auth-cert.der"));

    CHECK(status_word(send(*connection, "00A4020C020018")) == "9000");
    CHECK(status_word(send(*connection, "002000800431323334")) == "9000");  // PIN 1234
    CHECK(status_word(send(*connection, "00A4020C020017")) == "9000");
    const Bytes info = crypto::digest_info(
        crypto::DigestAlgorithm::Sha256,
        crypto::digest(context, crypto::DigestAlgorithm::Sha256, jpki::crypto_test::bytes_of("over pcscd")));
    Bytes apdu{0x80, 0x2A, 0x00, 0x80, static_cast<std::uint8_t>(info.size())};
    apdu.insert(apdu.end(), info.begin(), info.end());
    apdu.push_back(0x00);
    const Bytes response = connection->transmit(apdu);  // 256 + SW: the longest answer there is
    REQUIRE(status_word(response) == "9000");
    const Bytes signature(response.begin(), response.end() - 2);
    CHECK(signature.size() == 256);
    CHECK(crypto::verify_pkcs1(context, cert.public_key(), std::nullopt, info, signature));
}

TEST_CASE("pcsc live: another program's reset surfaces as CardReset, reconnect recovers", "[.][pcscd]") {
    PcscTransport transport;
    const std::string reader = vcard_reader();
    const auto connection = transport.connect(reader);
    select_jpki(*connection);

    {  // another program resets the card
        SCARDCONTEXT other = 0;
        REQUIRE(SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &other) == SCARD_S_SUCCESS);
        SCARDHANDLE handle = 0;
        DWORD protocol = 0;
        REQUIRE(SCardConnect(other, reader.c_str(), SCARD_SHARE_SHARED,
                             SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &handle, &protocol) == SCARD_S_SUCCESS);
        CHECK(SCardDisconnect(handle, SCARD_RESET_CARD) == SCARD_S_SUCCESS);
        SCardReleaseContext(other);
    }
    CHECK_THROWS_AS(connection->begin_transaction(), CardReset);
    connection->reconnect();
    CHECK(to_hex(connection->atr()) == "3be000ff8131fe4514");
    const Transaction transaction(*connection);
    select_jpki(*connection);
}

TEST_CASE("pcsc live: cancel_wait wakes a blocked wait", "[.][pcscd]") {
    PcscTransport transport;
    (void)transport.readers();
    const auto start = std::chrono::steady_clock::now();
    std::thread canceller([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        transport.cancel_wait();
    });
    const bool changed = transport.wait_for_change(std::chrono::seconds(20));
    canceller.join();
    CHECK_FALSE(changed);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
}

TEST_CASE("pcsc live: a program connecting to the card is not an event", "[.][pcscd]") {
    PcscTransport transport;
    (void)transport.readers();
    std::thread other([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        const auto connection = transport.connect(vcard_reader());  // flips SCARD_STATE_INUSE
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    });
    CHECK_FALSE(transport.wait_for_change(std::chrono::milliseconds(800)));
    other.join();
}

TEST_CASE("pcsc live: card removal wakes the wait and surfaces as CardRemoved", "[.][pcscd-removal]") {
    PcscTransport transport;
    const std::string reader = vcard_reader();
    const auto connection = transport.connect(reader);
    std::uint32_t events_before = 0;
    for (const ReaderStatus& r : transport.readers())
        if (r.name == reader) events_before = r.event_count;
    const char* vcard_pid = std::getenv("WITH_VCARD_VCARD_PID");
    REQUIRE(vcard_pid != nullptr);
    // The card goes away: the virtual card's process ends and vpcd reports no card.
    REQUIRE(::kill(static_cast<pid_t>(std::atol(vcard_pid)), SIGTERM) == 0);

    CHECK(transport.wait_for_change(std::chrono::seconds(10)));
    bool present = true;
    std::uint32_t events_after = events_before;
    for (const ReaderStatus& r : transport.readers()) {
        if (r.name != reader) continue;
        present = r.card_present;
        events_after = r.event_count;
    }
    CHECK_FALSE(present);
    CHECK(events_after != events_before);  // pcsc-lite's per-reader event counter moved
    CHECK_THROWS_AS(send(*connection, "00A4040C0AD392F000260100000001"), CardRemoved);
    CHECK_THROWS_AS(transport.connect(reader), CardRemoved);
}

TEST_CASE("pcsc live: pcscd going away is ServiceUnavailable, never a crash", "[.][pcscd-stop]") {
    PcscTransport transport;
    const auto connection = transport.connect(vcard_reader());
    (void)transport.readers();
    const char* pcscd_pid = std::getenv("WITH_VCARD_PCSCD_PID");
    REQUIRE(pcscd_pid != nullptr);
    REQUIRE(::kill(static_cast<pid_t>(std::atol(pcscd_pid)), SIGTERM) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));

    CHECK_THROWS_AS(send(*connection, "00A4040C0AD392F000260100000001"), ServiceUnavailable);
    for (int call = 0; call < 2; ++call) CHECK_THROWS_AS(transport.readers(), ServiceUnavailable);
    CHECK_THROWS_AS(transport.connect(vcard_reader()), ServiceUnavailable);
    CHECK_THROWS_AS(transport.wait_for_change(std::chrono::milliseconds(100)), ServiceUnavailable);
}

namespace {

// Another program's connection holding the card's transaction (SCardBeginTransaction) until
// it is destroyed.
class ForeignTransaction {
public:
    explicit ForeignTransaction(const std::string& reader) {
        REQUIRE(SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &context_) == SCARD_S_SUCCESS);
        DWORD protocol = 0;
        REQUIRE(SCardConnect(context_, reader.c_str(), SCARD_SHARE_SHARED,
                             SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &handle_, &protocol) == SCARD_S_SUCCESS);
        REQUIRE(SCardBeginTransaction(handle_) == SCARD_S_SUCCESS);
    }
    ~ForeignTransaction() { release(); }
    ForeignTransaction(const ForeignTransaction&) = delete;
    ForeignTransaction& operator=(const ForeignTransaction&) = delete;
    void release() {
        if (context_ == 0) return;
        (void)SCardEndTransaction(handle_, SCARD_LEAVE_CARD);
        (void)SCardDisconnect(handle_, SCARD_LEAVE_CARD);
        (void)SCardReleaseContext(context_);
        context_ = 0;
    }

private:
    SCARDCONTEXT context_ = 0;
    SCARDHANDLE handle_ = 0;
};

// Runs `call`, which must throw CardBusy, and checks it returned within a bound far above the
// connection's 5 s (without the bound pcsc-lite polls for ever and this never returns).
template <class F>
void check_busy_within_bound(F&& call) {
    const auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(call(), CardBusy);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(15));
}

}  // namespace

TEST_CASE("pcsc live: another program's long transaction is CardBusy, then the connection works",
          "[.][pcscd-busy]") {
    PcscTransport transport;
    const std::string reader = vcard_reader();
    const auto connection = transport.connect(reader);
    {
        const Transaction transaction(*connection);
        select_jpki(*connection);
        CHECK(status_word(send(*connection, "00A4020C020018")) == "9000");
        CHECK(status_word(send(*connection, "002000800431323334")) == "9000");  // PIN 1234
    }

    ForeignTransaction other(reader);
    check_busy_within_bound([&] { connection->begin_transaction(); });
    // Still held: the connect that replaces the dropped handle waits, and is bounded too.
    check_busy_within_bound([&] { connection->begin_transaction(); });
    check_busy_within_bound([&] { connection->reconnect(); });
    other.release();

    // Usable again; the handle was dropped with SCARD_LEAVE_CARD, so the card kept its state:
    // the PIN verified before still authorises a signature.
    const Transaction transaction(*connection);
    CHECK(to_hex(connection->atr()) == "3be000ff8131fe4514");
    CHECK(status_word(send(*connection, "00A4020C020017")) == "9000");
    const Bytes digest_info =
        from_hex("3031300d060960864801650304020105000420" + std::string(64, 'a'));
    Bytes apdu{0x80, 0x2A, 0x00, 0x80, static_cast<std::uint8_t>(digest_info.size())};
    apdu.insert(apdu.end(), digest_info.begin(), digest_info.end());
    apdu.push_back(0x00);
    CHECK(status_word(connection->transmit(apdu)) == "9000");
}

TEST_CASE("pcsc live: a transaction that ends within the bound is waited for", "[.][pcscd-busy]") {
    PcscTransport transport;
    const std::string reader = vcard_reader();
    const auto connection = transport.connect(reader);
    auto other = std::make_unique<ForeignTransaction>(reader);
    std::atomic<bool> released{false};
    std::thread releaser([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        released = true;  // before the release: begin cannot succeed earlier than this
        other->release();
    });
    CHECK_NOTHROW(connection->begin_transaction());
    releaser.join();
    CHECK(released);
    select_jpki(*connection);
    connection->end_transaction();
}

TEST_CASE("pcsc live: a card pulled out in the middle of an APDU is CardRemoved",
          "[.][pcscd-removal-mid-apdu]") {
    // Needs jpki-vcard --sign-latency-ms 3000 (tests/pcsc/CMakeLists.txt): the card is killed
    // (SIGKILL, as a card pulled out) while it computes the signature. vpcd then answers the
    // pending SCardTransmit with no bytes; the connection must tell that from a card error.
    PcscTransport transport;
    const auto connection = transport.connect(vcard_reader());
    const Transaction transaction(*connection);
    select_jpki(*connection);
    CHECK(status_word(send(*connection, "00A4020C020018")) == "9000");
    CHECK(status_word(send(*connection, "002000800431323334")) == "9000");
    CHECK(status_word(send(*connection, "00A4020C020017")) == "9000");
    const char* vcard_pid = std::getenv("WITH_VCARD_VCARD_PID");
    REQUIRE(vcard_pid != nullptr);
    std::thread puller([pid = static_cast<pid_t>(std::atol(vcard_pid))] {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        ::kill(pid, SIGKILL);
    });
    const Bytes digest_info = from_hex("3031300d060960864801650304020105000420" + std::string(64, 'b'));
    Bytes apdu{0x80, 0x2A, 0x00, 0x80, static_cast<std::uint8_t>(digest_info.size())};
    apdu.insert(apdu.end(), digest_info.begin(), digest_info.end());
    apdu.push_back(0x00);
    CHECK_THROWS_AS(connection->transmit(apdu), CardRemoved);
    puller.join();
}

TEST_CASE("pcsc live: connecting while another program holds a transaction is CardBusy, then works",
          "[.][pcscd-busy]") {
    PcscTransport transport;
    const std::string reader = vcard_reader();
    {
        ForeignTransaction other(reader);
        // pcscd holds a shared connect until the transaction ends; the second call picks up
        // the connect the first one left waiting.
        check_busy_within_bound([&] { (void)transport.connect(reader); });
        check_busy_within_bound([&] { (void)transport.connect(reader); });
    }
    const auto connection = transport.connect(reader);
    CHECK(to_hex(connection->atr()) == "3be000ff8131fe4514");
    const Transaction transaction(*connection);
    select_jpki(*connection);
}
