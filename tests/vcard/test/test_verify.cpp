// VERIFY and the retry counters (docs/card.md, "Commands": verify PIN, tries left).
#include "helpers.hpp"

#include <catch2/catch.hpp>

using namespace vt;

namespace {

void select_pin(Card& card, Pin which) {
    REQUIRE(run(card, select_jpki()) == 0x9000);
    REQUIRE(run(card, select_ef(which == Pin::Auth ? ef_auth_pin : ef_sign_pin)) == 0x9000);
}

}  // namespace

TEST_CASE("VERIFY with the right PIN answers 9000 and marks that PIN verified", "[verify]") {
    auto card = make_card();
    select_pin(*card, Pin::Auth);
    CHECK(card->process(verify("1234")) == h("9000"));
    CHECK(card->verified(Pin::Auth));
    CHECK_FALSE(card->verified(Pin::Sign));
    REQUIRE(run(*card, select_ef(ef_sign_pin)) == 0x9000);
    CHECK(run(*card, verify("ABC123")) == 0x9000);
    CHECK(card->verified(Pin::Sign));
    CHECK(card->verified(Pin::Auth));
}

TEST_CASE("VERIFY with a wrong PIN answers 63Cx and spends one try", "[verify]") {
    auto card = make_card();
    select_pin(*card, Pin::Auth);
    CHECK(run(*card, verify("9999")) == 0x63C2);
    CHECK(card->tries_left(Pin::Auth) == 2);
    CHECK(run(*card, verify("123")) == 0x63C1);  // wrong length is just wrong
    CHECK(card->tries_left(Pin::Auth) == 1);
    CHECK(card->tries_left(Pin::Sign) == 5);
}

TEST_CASE("Empty VERIFY answers 63Cx without spending a try, also right after a good VERIFY", "[verify]") {
    auto card = make_card();
    select_pin(*card, Pin::Sign);
    CHECK(run(*card, verify_empty()) == 0x63C5);
    CHECK(run(*card, verify_empty()) == 0x63C5);
    REQUIRE(run(*card, verify("ABC123")) == 0x9000);
    CHECK(run(*card, verify_empty()) == 0x63C5);  // cannot tell "logged in"
    CHECK(card->verified(Pin::Sign));             // and does not log out either
    REQUIRE(run(*card, verify("WRONG1")) == 0x63C4);
    CHECK(run(*card, verify_empty()) == 0x63C4);
    CHECK(card->tries_left(Pin::Sign) == 4);
}

TEST_CASE("Auth PIN: the try that locks answers 63C0, every later VERIFY 6984", "[verify]") {
    auto card = make_card();
    select_pin(*card, Pin::Auth);
    CHECK(run(*card, verify("0000")) == 0x63C2);
    CHECK(run(*card, verify("0000")) == 0x63C1);
    CHECK(run(*card, verify("0000")) == 0x63C0);
    CHECK(run(*card, verify("0000")) == 0x6984);
    CHECK(run(*card, verify("1234")) == 0x6984);  // even the right PIN
    CHECK(run(*card, verify_empty()) == 0x6984);
    CHECK(card->tries_left(Pin::Auth) == 0);
    CHECK_FALSE(card->verified(Pin::Auth));
}

TEST_CASE("Sign PIN: 5 tries, then locked", "[verify]") {
    auto card = make_card();
    select_pin(*card, Pin::Sign);
    for (int left = 4; left >= 0; --left) {
        CHECK(run(*card, verify("ZZZZZZ")) == 0x63C0 + left);
    }
    CHECK(run(*card, verify("ABC123")) == 0x6984);
    CHECK(card->tries_left(Pin::Sign) == 0);
}

TEST_CASE("A good VERIFY resets the counter to its maximum", "[verify]") {
    auto card = make_card();
    select_pin(*card, Pin::Auth);
    REQUIRE(run(*card, verify("1111")) == 0x63C2);
    REQUIRE(run(*card, verify("2222")) == 0x63C1);
    CHECK(run(*card, verify("1234")) == 0x9000);
    CHECK(run(*card, verify_empty()) == 0x63C3);
    CHECK(card->tries_left(Pin::Auth) == 3);
}

TEST_CASE("A wrong VERIFY clears that PIN's verified state only", "[verify]") {
    auto card = make_card();
    login(*card, Pin::Auth, "1234");
    REQUIRE(run(*card, select_ef(ef_sign_pin)) == 0x9000);
    REQUIRE(run(*card, verify("ABC123")) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_auth_pin)) == 0x9000);
    CHECK(run(*card, verify("4321")) == 0x63C2);
    CHECK_FALSE(card->verified(Pin::Auth));
    CHECK(card->verified(Pin::Sign));
}

TEST_CASE("A card can start with fewer tries left", "[verify]") {
    CardConfig config;
    config.auth_tries = 1;
    config.sign_tries = 0;
    auto card = make_card(config);
    select_pin(*card, Pin::Auth);
    CHECK(run(*card, verify_empty()) == 0x63C1);
    REQUIRE(run(*card, select_ef(ef_sign_pin)) == 0x9000);
    CHECK(run(*card, verify_empty()) == 0x6984);
    CHECK(run(*card, verify("ABC123")) == 0x6984);
}

TEST_CASE("VERIFY needs a PIN EF: 6986 without a current EF, 6981 on another EF", "[verify]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    CHECK(run(*card, verify("1234")) == 0x6986);
    CHECK(run(*card, verify_empty()) == 0x6986);
    REQUIRE(run(*card, select_ef(ef_auth_key)) == 0x9000);
    CHECK(run(*card, verify("1234")) == 0x6981);
    REQUIRE(run(*card, select_ef(ef_auth_cert)) == 0x9000);
    CHECK(run(*card, verify("1234")) == 0x6981);
    CHECK(card->tries_left(Pin::Auth) == 3);
}

TEST_CASE("VERIFY with P1 other than 00 or P2 other than 80 answers 6A86, no 98/9B shortcut", "[verify]") {
    auto card = make_card();
    select_pin(*card, Pin::Auth);
    CHECK(run(*card, h("002000980431323334")) == 0x6A86);
    CHECK(run(*card, h("0020009B06414243313233")) == 0x6A86);
    CHECK(run(*card, h("002001800431323334")) == 0x6A86);
    CHECK_FALSE(card->verified(Pin::Auth));
    CHECK(card->tries_left(Pin::Auth) == 3);
}

TEST_CASE("VERIFY with more than 16 bytes or with Le answers 6700", "[verify]") {
    auto card = make_card();
    select_pin(*card, Pin::Sign);
    CHECK(run(*card, verify("ABCDEFGHIJKLMNOPQ")) == 0x6700);
    CHECK(run(*card, h("0020008004")) == 0x6700);             // case 2
    CHECK(run(*card, h("002000800641424331323300")) == 0x6700);  // case 4
    CHECK(card->tries_left(Pin::Sign) == 5);
    CHECK(run(*card, verify("ABCDEFGHIJKLMNOP")) == 0x63C4);  // 16 is a (wrong) PIN
}
