// The in-process Transport: readers, removal, reset by another program, events, transactions.
#include "helpers.hpp"

#include <jpki/vcard/virtual_readers.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

using namespace vt;
using jpki::vcard::VirtualReaders;
namespace transport = jpki::transport;
using namespace std::chrono_literals;

namespace {

const std::string reader = VirtualReaders::default_reader;

std::shared_ptr<Card> shared_card(CardConfig config = {}) { return std::make_shared<Card>(std::move(config)); }

std::uint16_t transmit_sw(transport::Connection& c, const Bytes& apdu) { return sw(c.transmit(apdu)); }

}  // namespace

TEST_CASE("VirtualReaders lists its readers with card presence, ATR and event count", "[transport]") {
    VirtualReaders readers({"Virtual PCD 00 00", "Virtual PCD 00 01"});
    auto list = readers.readers();
    REQUIRE(list.size() == 2);
    CHECK(list[0].name == "Virtual PCD 00 00");
    CHECK_FALSE(list[0].card_present);
    CHECK(list[0].atr.empty());
    const auto before = list[0].event_count;

    readers.insert("Virtual PCD 00 00", shared_card());
    list = readers.readers();
    CHECK(list[0].card_present);
    CHECK(list[0].atr == h("3BE000FF8131FE4514"));
    CHECK(list[0].event_count == before + 1);
    CHECK_FALSE(list[1].card_present);

    readers.remove("Virtual PCD 00 00");
    list = readers.readers();
    CHECK_FALSE(list[0].card_present);
    CHECK(list[0].event_count == before + 2);
}

TEST_CASE("connect to an empty reader throws CardRemoved and to an unknown one ServiceUnavailable", "[transport]") {
    VirtualReaders readers;
    CHECK_THROWS_AS(readers.connect(reader), transport::CardRemoved);
    CHECK_THROWS_AS(readers.connect("No Such Reader"), transport::ServiceUnavailable);
}

TEST_CASE("A connection transmits APDUs to the inserted card", "[transport]") {
    VirtualReaders readers;
    CardConfig config;
    config.atr = h("3B8880010000000000000000");  // a contactless reader's synthesised ATR
    auto card = shared_card(config);
    readers.insert(reader, card);
    auto connection = readers.connect(reader);
    CHECK(connection->atr() == config.atr);
    {
        transport::Transaction transaction(*connection);
        CHECK(transmit_sw(*connection, select_jpki()) == 0x9000);
        CHECK(transmit_sw(*connection, select_ef(ef_availability)) == 0x9000);
        CHECK(connection->transmit(read_binary(0, 3)) == h("8F8F009000"));
    }
    CHECK(readers.transmitted(reader) == 3);
    CHECK(readers.card(reader) == card);
}

TEST_CASE("A reader without extended APDUs throws ExtendedLengthRefused; the card sees nothing", "[transport][extended]") {
    VirtualReaders readers;
    CardConfig config;
    config.reader_extended = false;
    auto card = shared_card(config);
    readers.insert(reader, card);
    auto connection = readers.connect(reader);
    transport::Transaction transaction(*connection);
    CHECK(transmit_sw(*connection, select_jpki()) == 0x9000);
    CHECK_THROWS_AS(connection->transmit(h("00B08A00000000")), transport::ExtendedLengthRefused);
    CHECK_THROWS_AS(connection->transmit(h("00A4040C00000AD392F000260100000001")), transport::ExtendedLengthRefused);
    CHECK(readers.transmitted(reader) == 1);
    // Still usable for short APDUs, in the same transaction.
    CHECK(transmit_sw(*connection, select_ef(ef_availability)) == 0x9000);
    CHECK(connection->transmit(read_binary(0, 3)) == h("8F8F009000"));
}

TEST_CASE("Removing the card makes transmit and begin_transaction throw CardRemoved", "[transport]") {
    VirtualReaders readers;
    readers.insert(reader, shared_card());
    auto connection = readers.connect(reader);
    REQUIRE(transmit_sw(*connection, select_jpki()) == 0x9000);
    readers.remove(reader);
    CHECK_THROWS_AS(connection->transmit(select_jpki()), transport::CardRemoved);
    CHECK_THROWS_AS(connection->begin_transaction(), transport::CardRemoved);
    CHECK_THROWS_AS(connection->reconnect(), transport::CardRemoved);
    // A new card in the same reader does not revive the old connection.
    readers.insert(reader, shared_card());
    CHECK_THROWS_AS(connection->transmit(select_jpki()), transport::CardRemoved);
    auto fresh = readers.connect(reader);
    CHECK(transmit_sw(*fresh, select_jpki()) == 0x9000);
}

TEST_CASE("A reset by another program throws CardReset until reconnect, and clears the PINs", "[transport]") {
    VirtualReaders readers;
    auto card = shared_card();
    readers.insert(reader, card);
    auto connection = readers.connect(reader);
    auto other = readers.connect(reader);
    REQUIRE(transmit_sw(*connection, select_jpki()) == 0x9000);
    REQUIRE(transmit_sw(*connection, select_ef(ef_auth_pin)) == 0x9000);
    REQUIRE(transmit_sw(*connection, verify("1234")) == 0x9000);
    REQUIRE(card->verified(Pin::Auth));
    const auto events = readers.readers()[0].event_count;

    readers.reset_by_other_program(reader);
    CHECK_FALSE(card->verified(Pin::Auth));
    CHECK(readers.readers()[0].event_count == events);  // pcsc-lite does not count resets
    CHECK_THROWS_AS(connection->transmit(select_jpki()), transport::CardReset);
    CHECK_THROWS_AS(connection->transmit(select_jpki()), transport::CardReset);  // sticky
    CHECK_THROWS_AS(other->begin_transaction(), transport::CardReset);
    const auto sent = readers.transmitted(reader);

    connection->reconnect();
    CHECK(transmit_sw(*connection, select_jpki()) == 0x9000);
    CHECK(transmit_sw(*connection, select_ef(ef_auth_key)) == 0x9000);
    CHECK(transmit_sw(*connection, compute_digital_signature(h("01"))) == 0x6982);
    CHECK(readers.transmitted(reader) == sent + 3);
    other->reconnect();
    transport::Transaction transaction(*other);
    CHECK(transmit_sw(*other, select_jpki()) == 0x9000);
}

TEST_CASE("wait_for_change wakes on insert and on removal", "[transport][events]") {
    VirtualReaders readers;
    readers.readers();  // what the caller has seen
    auto waiter = std::async(std::launch::async, [&] { return readers.wait_for_change(10s); });
    std::this_thread::sleep_for(50ms);
    CHECK(waiter.wait_for(0s) == std::future_status::timeout);  // really blocked
    readers.insert(reader, shared_card());
    REQUIRE(waiter.wait_for(5s) == std::future_status::ready);
    CHECK(waiter.get());
    CHECK(readers.readers()[0].card_present);

    auto removal = std::async(std::launch::async, [&] { return readers.wait_for_change(10s); });
    std::this_thread::sleep_for(20ms);
    readers.remove(reader);
    REQUIRE(removal.wait_for(5s) == std::future_status::ready);
    CHECK(removal.get());
}

TEST_CASE("wait_for_change returns false on cancel_wait and on timeout", "[transport][events]") {
    VirtualReaders readers;
    readers.readers();
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(readers.wait_for_change(60ms));
    CHECK(std::chrono::steady_clock::now() - start >= 60ms);

    auto waiter = std::async(std::launch::async, [&] { return readers.wait_for_change(std::chrono::hours(1000000)); });
    std::this_thread::sleep_for(50ms);
    readers.cancel_wait();
    REQUIRE(waiter.wait_for(5s) == std::future_status::ready);
    CHECK_FALSE(waiter.get());
}

TEST_CASE("wait_for_change reports a change that happened since the caller last looked", "[transport][events]") {
    VirtualReaders readers;
    readers.readers();
    readers.insert(reader, shared_card());
    CHECK(readers.wait_for_change(0ms));   // at once
    CHECK_FALSE(readers.wait_for_change(10ms));  // and only once
}

TEST_CASE("A transaction keeps another connection's APDUs out until it ends", "[transport][transaction]") {
    VirtualReaders readers;
    readers.insert(reader, shared_card());
    auto a = readers.connect(reader);
    auto b = readers.connect(reader);
    a->begin_transaction();
    REQUIRE(transmit_sw(*a, select_jpki()) == 0x9000);
    std::atomic<bool> b_done{false};
    // b moves the card to another AP: must not land inside a's transaction. (No Catch
    // assertions in the thread: Catch2 is not thread-safe.)
    const Bytes other_ap = select_aid(h("D3921000310001010408"));
    auto other = std::async(std::launch::async, [&] {
        Bytes r = b->transmit(other_ap);
        b_done = true;
        return r;
    });
    std::this_thread::sleep_for(80ms);
    CHECK_FALSE(b_done.load());
    REQUIRE(transmit_sw(*a, select_ef(ef_availability)) == 0x9000);
    CHECK(a->transmit(read_binary(0, 3)) == h("8F8F009000"));
    a->end_transaction();
    REQUIRE(other.wait_for(5s) == std::future_status::ready);
    CHECK(other.get() == h("9000"));
    CHECK(transmit_sw(*a, read_binary(0, 3)) == 0x6986);  // b's SELECT dropped the EF
}

TEST_CASE("A blocked transaction wakes with CardRemoved when the card goes", "[transport][transaction]") {
    VirtualReaders readers;
    readers.insert(reader, shared_card());
    auto a = readers.connect(reader);
    auto b = readers.connect(reader);
    a->begin_transaction();
    auto waiter = std::async(std::launch::async, [&] { b->begin_transaction(); });
    std::this_thread::sleep_for(30ms);
    readers.remove(reader);
    REQUIRE(waiter.wait_for(5s) == std::future_status::ready);
    CHECK_THROWS_AS(waiter.get(), transport::CardRemoved);
}

TEST_CASE("A connection may outlive its VirtualReaders", "[transport]") {
    std::unique_ptr<transport::Connection> connection;
    {
        VirtualReaders readers;
        readers.insert(reader, shared_card());
        connection = readers.connect(reader);
    }
    CHECK(transmit_sw(*connection, select_jpki()) == 0x9000);
}
