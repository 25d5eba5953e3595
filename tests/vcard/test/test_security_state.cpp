// When verified PINs are lost (docs/card.md, "Security state").
#include "helpers.hpp"

#include <catch2/catch.hpp>

using namespace vt;

namespace {

// A card with both PINs verified and the sign key selected.
std::unique_ptr<Card> logged_in_card(CardConfig config = {}) {
    auto card = make_card(std::move(config));
    login(*card, Pin::Auth, "1234");
    REQUIRE(run(*card, select_ef(ef_sign_pin)) == 0x9000);
    REQUIRE(run(*card, verify("ABC123")) == 0x9000);
    return card;
}

// A SHA-1 DigestInfo, as hosts send for P1 00.
const Bytes digest_info = {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A, 0x05, 0x00, 0x04, 0x14,
                           1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};

}  // namespace

TEST_CASE("A verified PIN survives EF selection and certificate reads", "[security_state]") {
    auto card = logged_in_card();
    REQUIRE(run(*card, select_ef(ef_auth_cert)) == 0x9000);
    REQUIRE(run(*card, read_binary(0, 0)) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_token_info)) == 0x9000);
    REQUIRE(run(*card, read_binary(0, 0)) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_auth_key)) == 0x9000);
    CHECK(run(*card, compute_digital_signature(digest_info)) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_sign_key)) == 0x9000);
    CHECK(run(*card, compute_digital_signature(digest_info)) == 0x9000);
}

TEST_CASE("A reset clears verified PINs, the selected AP and the EF", "[security_state]") {
    auto card = logged_in_card();
    CHECK(card->reset() == card->config().atr);
    CHECK_FALSE(card->verified(Pin::Auth));
    CHECK_FALSE(card->verified(Pin::Sign));
    CHECK(run(*card, read_binary(0, 4)) == 0x6986);        // no EF
    CHECK(run(*card, select_ef(ef_auth_key)) == 0x6A82);   // the ISD is selected again
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_auth_key)) == 0x9000);
    CHECK(run(*card, compute_digital_signature(digest_info)) == 0x6982);
}

TEST_CASE("Power off and power on clear verified PINs", "[security_state]") {
    auto card = logged_in_card();
    card->power_off();
    CHECK_FALSE(card->verified(Pin::Auth));
    CHECK_FALSE(card->verified(Pin::Sign));
    CHECK(card->power_on() == h("3BE000FF8131FE4514"));
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_sign_cert)) == 0x9000);
    CHECK(run(*card, read_binary(0, 4)) == 0x6982);

    auto again = logged_in_card();
    again->power_on();
    CHECK_FALSE(again->verified(Pin::Auth));
}

TEST_CASE("Selecting another AP clears verified PINs and the current EF", "[security_state]") {
    for (const char* aid : {"D3921000310001010408", "D3921000310001010402", "A0000001510000"}) {
        INFO(aid);
        auto card = logged_in_card();
        REQUIRE(run(*card, select_aid(h(aid))) == 0x9000);
        CHECK_FALSE(card->verified(Pin::Auth));
        CHECK_FALSE(card->verified(Pin::Sign));
        CHECK(run(*card, read_binary(0, 4)) == 0x6986);
        REQUIRE(run(*card, select_jpki()) == 0x9000);
        REQUIRE(run(*card, select_ef(ef_sign_key)) == 0x9000);
        CHECK(run(*card, compute_digital_signature(digest_info)) == 0x6982);
    }
}

TEST_CASE("Re-selecting the JPKI AID keeps verified PINs by default but drops the EF", "[security_state][reselect]") {
    auto card = logged_in_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    CHECK(card->verified(Pin::Auth));
    CHECK(card->verified(Pin::Sign));
    CHECK(run(*card, read_binary(0, 4)) == 0x6986);
    REQUIRE(run(*card, select_ef(ef_auth_key)) == 0x9000);
    CHECK(run(*card, compute_digital_signature(digest_info)) == 0x9000);
}

TEST_CASE("With reselect_clears, re-selecting the JPKI AID drops verified PINs", "[security_state][reselect]") {
    CardConfig config;
    config.reselect_clears = true;
    auto card = logged_in_card(config);
    REQUIRE(run(*card, select_ef(ef_auth_cert)) == 0x9000);  // EF selection still keeps them
    CHECK(card->verified(Pin::Auth));
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    CHECK_FALSE(card->verified(Pin::Auth));
    CHECK_FALSE(card->verified(Pin::Sign));
    REQUIRE(run(*card, select_ef(ef_auth_key)) == 0x9000);
    CHECK(run(*card, compute_digital_signature(digest_info)) == 0x6982);
}
