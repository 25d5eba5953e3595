// SELECT: applications and elementary files (docs/card.md, "Applications", "Commands").
#include "helpers.hpp"

#include <catch2/catch.hpp>

using namespace vt;

TEST_CASE("SELECT of the JPKI AID answers 9000 with no data", "[select]") {
    auto card = make_card();
    CHECK(card->process(select_jpki()) == h("9000"));
    CHECK(card->process(select_aid(jpki_aid(), 0x00)) == h("9000"));  // FCI asked: still no data
}

TEST_CASE("SELECT of the other known APs answers 9000", "[select]") {
    auto card = make_card();
    for (const char* aid : {"D3921000310001010408", "D3921000310001010402", "A0000001510000"}) {
        INFO(aid);
        CHECK(card->process(select_aid(h(aid))) == h("9000"));
    }
}

TEST_CASE("SELECT of an unknown AID answers 6A82", "[select]") {
    auto card = make_card();
    CHECK(run(*card, select_aid(h("D392F000260100000002"))) == 0x6A82);
    CHECK(run(*card, select_aid(h("D392F0002601"))) == 0x6A82);  // no partial AID match
    CHECK(run(*card, select_aid(h("A000000003000000"))) == 0x6A82);
}

TEST_CASE("SELECT by AID with P2 other than 0C or 00 answers 6A86", "[select]") {
    auto card = make_card();
    CHECK(run(*card, select_aid(jpki_aid(), 0x04)) == 0x6A86);
    CHECK(run(*card, select_aid(jpki_aid(), 0x02)) == 0x6A86);
}

TEST_CASE("SELECT by AID without an AID answers 6700", "[select]") {
    auto card = make_card();
    CHECK(run(*card, h("00A4040C")) == 0x6700);
}

TEST_CASE("SELECT MF does not work: P1 00 alone answers 6A86 and 3F00 answers 6A82", "[select]") {
    auto card = make_card();
    CHECK(run(*card, h("00A40000")) == 0x6A86);
    CHECK(run(*card, h("00A40000023F00")) == 0x6A82);
    CHECK(run(*card, h("00A4000C023F00")) == 0x6A82);
}

TEST_CASE("SELECT with an unsupported P1 answers 6A86", "[select]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    CHECK(run(*card, h("00A4010C020001")) == 0x6A86);
    CHECK(run(*card, h("00A4080C020001")) == 0x6A86);
}

TEST_CASE("SELECT EF answers 9000 for every EF of the JPKI AP", "[select]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    for (const std::uint16_t fid : {ef_sign_cert, ef_sign_ca, ef_token_info, ef_availability, ef_auth_cert,
                                    ef_auth_ca, ef_auth_key, ef_auth_pin, ef_sign_key, ef_sign_pin}) {
        INFO("EF " << fid);
        CHECK(card->process(select_ef(fid)) == h("9000"));
    }
    CHECK(run(*card, h("00A40200020006")) == 0x9000);  // P2 00 is accepted too
}

TEST_CASE("SELECT EF of an unknown FID answers 6A82 and keeps the current EF", "[select]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_availability)) == 0x9000);
    CHECK(run(*card, select_ef(0x0003)) == 0x6A82);
    CHECK(run(*card, select_ef(0x3F00)) == 0x6A82);
    CHECK(card->process(read_binary(0, 3)) == h("8F8F009000"));
}

TEST_CASE("SELECT EF outside the JPKI AP answers 6A82", "[select]") {
    auto card = make_card();
    CHECK(run(*card, select_ef(ef_auth_cert)) == 0x6A82);  // power-on: the ISD is selected
    REQUIRE(run(*card, select_aid(h("D3921000310001010408"))) == 0x9000);
    CHECK(run(*card, select_ef(ef_auth_cert)) == 0x6A82);
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    CHECK(run(*card, select_ef(ef_auth_cert)) == 0x9000);
}

TEST_CASE("SELECT EF with Lc other than 2 answers 6700 and bad P2 6A86", "[select]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    CHECK(run(*card, h("00A4020C0100")) == 0x6700);
    CHECK(run(*card, h("00A4020C03000A00")) == 0x6700);
    CHECK(run(*card, h("00A4020C")) == 0x6700);
    CHECK(run(*card, h("00A40204020006")) == 0x6A86);
}
