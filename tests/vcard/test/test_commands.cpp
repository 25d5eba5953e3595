// CHANGE REFERENCE DATA, GET CHALLENGE, CLA screening and malformed APDUs.
#include "helpers.hpp"

#include <catch2/catch.hpp>

#include <chrono>

using namespace vt;

TEST_CASE("CHANGE REFERENCE DATA replaces a verified PIN and keeps it verified", "[change_pin]") {
    auto card = make_card();
    login(*card, Pin::Auth, "1234");
    CHECK(run(*card, change_reference_data("5678")) == 0x9000);
    CHECK(card->verified(Pin::Auth));
    CHECK(run(*card, verify("1234")) == 0x63C2);
    CHECK(run(*card, verify("5678")) == 0x9000);

    login(*card, Pin::Sign, "ABC123");
    CHECK(run(*card, change_reference_data("0123456789ABCDEF")) == 0x9000);
    CHECK(run(*card, verify("0123456789ABCDEF")) == 0x9000);
}

TEST_CASE("CHANGE REFERENCE DATA needs the PIN verified, else 6982", "[change_pin]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_auth_pin)) == 0x9000);
    CHECK(run(*card, change_reference_data("5678")) == 0x6982);
    login(*card, Pin::Sign, "ABC123");  // the other PIN does not count
    REQUIRE(run(*card, select_ef(ef_auth_pin)) == 0x9000);
    CHECK(run(*card, change_reference_data("5678")) == 0x6982);
    CHECK(run(*card, verify("1234")) == 0x9000);
}

TEST_CASE("CHANGE REFERENCE DATA refuses new PINs of the wrong format with 6A80", "[change_pin]") {
    auto card = make_card();
    login(*card, Pin::Auth, "1234");
    for (const char* bad : {"123", "12345", "12a4", "12 4"}) {
        INFO(bad);
        CHECK(run(*card, change_reference_data(bad)) == 0x6A80);
    }
    login(*card, Pin::Sign, "ABC123");
    for (const char* bad : {"ABC12", "abc123", "ABC-123", "0123456789ABCDEFG"}) {
        INFO(bad);
        CHECK(run(*card, change_reference_data(bad)) == 0x6A80);
    }
    CHECK(run(*card, verify("ABC123")) == 0x9000);  // unchanged
}

TEST_CASE("CHANGE REFERENCE DATA parameter and length errors", "[change_pin]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    CHECK(run(*card, change_reference_data("5678")) == 0x6986);  // no EF
    REQUIRE(run(*card, select_ef(ef_auth_cert)) == 0x9000);
    CHECK(run(*card, change_reference_data("5678")) == 0x6981);  // not a PIN EF
    login(*card, Pin::Auth, "1234");
    CHECK(run(*card, h("00240080083132333435363738")) == 0x6A86);  // P1 00: old+new form
    CHECK(run(*card, h("002402800435363738")) == 0x6A86);  // P1 02
    CHECK(run(*card, h("002401810435363738")) == 0x6A86);  // P2 81
    CHECK(run(*card, h("00240180")) == 0x6700);            // no new PIN
    CHECK(run(*card, h("0024018000")) == 0x6700);          // Le instead of data
    CHECK(run(*card, verify("1234")) == 0x9000);           // nothing changed
}

TEST_CASE("GET CHALLENGE returns Le random bytes, Le 00 meaning 256", "[get_challenge]") {
    auto card = make_card();
    const Bytes a = card->process(get_challenge(8));
    const Bytes b = card->process(get_challenge(8));
    REQUIRE(sw(a) == 0x9000);
    CHECK(body(a).size() == 8);
    CHECK(body(a) != body(b));
    const Bytes big = card->process(get_challenge(0x00));
    CHECK(sw(big) == 0x9000);
    CHECK(body(big).size() == 256);
    CHECK(body(card->process(get_challenge(1))).size() == 1);
}

TEST_CASE("GET CHALLENGE errors: P1 P2 not 00 answer 6A86, no Le or data 6700", "[get_challenge]") {
    auto card = make_card();
    CHECK(run(*card, h("0084010008")) == 0x6A86);
    CHECK(run(*card, h("0084000108")) == 0x6A86);
    CHECK(run(*card, h("00840000")) == 0x6700);
    CHECK(run(*card, h("008400000101")) == 0x6700);
    CHECK(run(*card, h("00840000010108")) == 0x6700);
}

TEST_CASE("Only logical channel 0: channel bits in CLA and MANAGE CHANNEL answer 6881", "[cla]") {
    auto card = make_card();
    CHECK(run(*card, h("01A4040C0AD392F000260100000001")) == 0x6881);
    CHECK(run(*card, h("03A4040C0AD392F000260100000001")) == 0x6881);
    CHECK(run(*card, h("40A4040C0AD392F000260100000001")) == 0x6881);
    CHECK(run(*card, h("4FB0000004")) == 0x6881);
    CHECK(run(*card, h("0070000001")) == 0x6881);  // MANAGE CHANNEL open
    CHECK(run(*card, h("0070800100")) == 0x6881);  // MANAGE CHANNEL close
}

TEST_CASE("Secure messaging answers 6882 and command chaining 6884", "[cla]") {
    auto card = make_card();
    CHECK(run(*card, h("0CA4040C0AD392F000260100000001")) == 0x6882);
    CHECK(run(*card, h("04B0000004")) == 0x6882);
    CHECK(run(*card, h("10A4040C0AD392F000260100000001")) == 0x6884);
    CHECK(run(*card, h("902A00800401020304" "00")) == 0x6884);
}

TEST_CASE("A command in the wrong class answers 6E00", "[cla]") {
    auto card = make_card();
    CHECK(run(*card, h("80A4040C0AD392F000260100000001")) == 0x6E00);
    CHECK(run(*card, h("80B0000004")) == 0x6E00);
    CHECK(run(*card, h("002A00800401020304" "00")) == 0x6E00);
    CHECK(run(*card, h("A0A4040C0AD392F000260100000001")) == 0x6E00);
}

TEST_CASE("Unknown instructions answer 6D00", "[malformed]") {
    auto card = make_card();
    for (const char* apdu : {"00CA000000", "00880000", "00B1000004", "00D6000001FF", "00E2000000", "80CA9F7F00"}) {
        INFO(apdu);
        CHECK(run(*card, h(apdu)) == 0x6D00);
    }
}

TEST_CASE("Malformed lengths answer 6700", "[malformed]") {
    auto card = make_card();
    CHECK(run(*card, Bytes{}) == 0x6700);
    CHECK(run(*card, h("00")) == 0x6700);
    CHECK(run(*card, h("00A404")) == 0x6700);
    CHECK(run(*card, h("00A4040C000000")) == 0x6700);  // extended Lc 0
    CHECK(run(*card, h("00A4040C00000BD392F000260100000001")) == 0x6700);  // extended Lc one too many
    CHECK(run(*card, h("00A4040C0BD392F000260100000001")) == 0x6700);  // Lc one too many
    CHECK(run(*card, h("00A4040C07D392F000260100000001")) == 0x6700);  // Lc three too few
    CHECK(run(*card, h("00A4040C09D392F000260100000001")) == 0x6A82);  // Lc 9 + Le: a valid case 4
    CHECK(run(*card, select_jpki()) == 0x9000);  // the card is fine afterwards
}

TEST_CASE("Extended lengths are read unless extended_apdu is off, then 6700", "[malformed][extended]") {
    auto card = make_card();
    CHECK(run(*card, h("00A4040C00000AD392F000260100000001")) == 0x9000);  // case 3E
    CardConfig config;
    config.extended_apdu = false;
    auto short_only = make_card(config);
    CHECK(run(*short_only, h("00A4040C00000AD392F000260100000001")) == 0x6700);
    CHECK(run(*short_only, select_jpki()) == 0x9000);
    CHECK(run(*short_only, select_ef(ef_auth_cert)) == 0x9000);
    CHECK(run(*short_only, h("00B00000000000")) == 0x6700);  // case 2E
    CHECK(run(*short_only, read_binary(0, 0)) == 0x9000);     // short reads still work
}

TEST_CASE("GET CHALLENGE with an extended Le answers 6985", "[extended]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    CHECK(run(*card, h("00840000000200")) == 0x6985);
}

TEST_CASE("apdu_latency delays every APDU", "[latency]") {
    CardConfig config;
    config.apdu_latency = std::chrono::milliseconds(30);
    auto card = make_card(config);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i) REQUIRE(run(*card, select_jpki()) == 0x9000);
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(90));
}
