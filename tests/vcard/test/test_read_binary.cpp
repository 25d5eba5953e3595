// READ BINARY and the content of the EFs (docs/card.md, "Elementary files in the JPKI AP").
#include "helpers.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

using namespace vt;

namespace {

std::size_t certificate_file_size(std::size_t der) { return (der + 255) / 256 * 256 + 256; }

void check_certificate_ef(Card& card, std::uint16_t fid, const std::string& pki_name) {
    const Bytes der = pki_file(pki_name);
    const Bytes content = read_ef(card, fid);
    REQUIRE(content.size() == certificate_file_size(der.size()));
    CHECK(std::equal(der.begin(), der.end(), content.begin()));
    CHECK(std::all_of(content.begin() + static_cast<long>(der.size()), content.end(),
                      [](std::uint8_t b) { return b == 0xFF; }));
}

}  // namespace

TEST_CASE("READ BINARY returns a certificate's DER followed by FF filler", "[read_binary]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    check_certificate_ef(*card, ef_auth_cert, "auth-cert.der");
    check_certificate_ef(*card, ef_auth_ca, "auth-ca.der");
    check_certificate_ef(*card, ef_sign_ca, "sign-ca.der");
}

TEST_CASE("A certificate's length is known only from its 30 82 hh ll header", "[read_binary]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_auth_cert)) == 0x9000);
    const Bytes header = body(card->process(read_binary(0, 4)));
    REQUIRE(header.size() == 4);
    CHECK(header[0] == 0x30);
    CHECK(header[1] == 0x82);
    CHECK(4u + ((header[2] << 8) | header[3]) == pki_file("auth-cert.der").size());
}

TEST_CASE("READ BINARY with Le 00 returns 256 bytes", "[read_binary]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_auth_cert)) == 0x9000);
    const Bytes r = card->process(read_binary(0, 0x00));
    CHECK(sw(r) == 0x9000);
    CHECK(body(r).size() == 256);
    CHECK(body(card->process(read_binary(0x10, 0x20))).size() == 0x20);
}

TEST_CASE("READ BINARY at or past the end answers 6B00 and near it returns what is left", "[read_binary]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_auth_cert)) == 0x9000);
    const auto size = static_cast<std::uint16_t>(certificate_file_size(pki_file("auth-cert.der").size()));
    CHECK(run(*card, read_binary(size, 1)) == 0x6B00);
    CHECK(run(*card, read_binary(0x7FFF, 1)) == 0x6B00);
    const Bytes tail = card->process(read_binary(static_cast<std::uint16_t>(size - 10), 0x00));
    CHECK(sw(tail) == 0x9000);
    CHECK(body(tail) == Bytes(10, 0xFF));
}

TEST_CASE("READ BINARY without a selected EF answers 6986", "[read_binary]") {
    auto card = make_card();
    CHECK(run(*card, read_binary(0, 4)) == 0x6986);
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    CHECK(run(*card, read_binary(0, 4)) == 0x6986);
}

TEST_CASE("READ BINARY by short EF identifier reads the EF without a SELECT", "[read_binary][short-ef-id]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    const Bytes der = pki_file("auth-cert.der");
    // 00 B0 8A 04 00 LL LL as myna-browser-ext sends it: offset 4, extended Le.
    const Bytes rest = card->process(h("00B08A04000200"));
    REQUIRE(sw(rest) == 0x9000);
    const Bytes rest_body = body(rest);
    REQUIRE(rest_body.size() == 0x200);
    CHECK(std::equal(rest_body.begin(), rest_body.end(), der.begin() + 4));
    // Le 00 00: the whole file, filler included.
    const Bytes whole = card->process(h("00B08A00000000"));
    REQUIRE(sw(whole) == 0x9000);
    const Bytes whole_body = body(whole);
    CHECK(whole_body.size() == certificate_file_size(der.size()));
    CHECK(std::equal(der.begin(), der.end(), whole_body.begin()));
    // The EF read by SFI is the current one afterwards.
    CHECK(sw(card->process(read_binary(0, 4))) == 0x9000);
    CHECK(run(*card, h("00B0860020")) == 0x9000);             // EF 0006
    CHECK(run(*card, h("00B0810004")) == 0x6982);             // EF 0001 still needs the password
    CHECK(run(*card, h("00B0830004")) == 0x6A82);             // no EF 0003
    REQUIRE(run(*card, select_aid(h("D3921000310001010408"))) == 0x9000);
    CHECK(run(*card, h("00B08A0004")) == 0x6A82);             // other AP: not our files
}

TEST_CASE("READ BINARY by short EF identifier answers 6A86 when short_ef_id is off", "[read_binary][short-ef-id]") {
    CardConfig config;
    config.short_ef_id = false;
    auto card = make_card(config);
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_auth_cert)) == 0x9000);
    CHECK(run(*card, h("00B08A0004")) == 0x6A86);
    CHECK(run(*card, h("00B08A00000000")) == 0x6A86);
    CHECK(run(*card, h("00B00000000000")) == 0x9000);  // extended Le after SELECT EF still works
}

TEST_CASE("READ BINARY without Le or with data answers 6700", "[read_binary]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_auth_cert)) == 0x9000);
    CHECK(run(*card, h("00B00000")) == 0x6700);
    CHECK(run(*card, h("00B000000100")) == 0x6700);
    CHECK(run(*card, h("00B00000010004")) == 0x6700);
}

TEST_CASE("READ BINARY of key and PIN EFs answers 6982 even when verified", "[read_binary]") {
    auto card = make_card();
    login(*card, Pin::Auth, "1234");
    REQUIRE(run(*card, select_ef(ef_sign_pin)) == 0x9000);
    REQUIRE(run(*card, verify("ABC123")) == 0x9000);
    for (const std::uint16_t fid : {ef_auth_key, ef_auth_pin, ef_sign_key, ef_sign_pin}) {
        INFO("EF " << fid);
        REQUIRE(run(*card, select_ef(fid)) == 0x9000);
        CHECK(run(*card, read_binary(0, 4)) == 0x6982);
    }
}

TEST_CASE("EF 0001 the signing certificate is readable only with the sign PIN verified", "[read_binary][pin]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_sign_cert)) == 0x9000);
    CHECK(run(*card, read_binary(0, 4)) == 0x6982);
    login(*card, Pin::Auth, "1234");  // the auth PIN is not enough
    REQUIRE(run(*card, select_ef(ef_sign_cert)) == 0x9000);
    CHECK(run(*card, read_binary(0, 4)) == 0x6982);
    REQUIRE(run(*card, select_ef(ef_sign_pin)) == 0x9000);
    REQUIRE(run(*card, verify("ABC123")) == 0x9000);
    check_certificate_ef(*card, ef_sign_cert, "sign-cert.der");
}

TEST_CASE("EF 0006 holds a 160-byte big-endian CK_TOKEN_INFO labelled JPKIAPICCTOKEN2", "[read_binary]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    const Bytes info = read_ef(*card, ef_token_info);
    REQUIRE(info.size() == 160);
    const std::string text(info.begin(), info.end());
    CHECK(text.substr(0, 32) == "JPKIAPICCTOKEN2" + std::string(17, ' '));
    CHECK(text.substr(32, 32) == "JPKI" + std::string(28, ' '));
    CHECK(text.substr(64, 16) == "JPKIAPICCTOKEN2 ");
    const auto u32 = [&](std::size_t at) {
        return (std::uint32_t{info[at]} << 24) | (info[at + 1] << 16) | (info[at + 2] << 8) | info[at + 3];
    };
    CHECK(u32(96 + 5 * 4) == 16);  // ulMaxPinLen
    CHECK(u32(96 + 6 * 4) == 4);   // ulMinPinLen
    CHECK(text.substr(144, 16) == std::string(16, ' '));  // utcTime
    // READ BINARY asking for more than is left returns what is left.
    CHECK(body(card->process(read_binary(150, 0x00))).size() == 10);
}

TEST_CASE("EF 0008 says both certificates are present", "[read_binary]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    CHECK(read_ef(*card, ef_availability) == h("8F8F00"));
}

TEST_CASE("A card without signing certificate has no EF 0001 001A 001B and EF 0008 says so", "[read_binary][no_sign_cert]") {
    CardConfig config;
    config.sign_cert = false;
    auto card = make_card(config);
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    CHECK(run(*card, select_ef(ef_sign_cert)) == 0x6A82);
    CHECK(run(*card, select_ef(ef_sign_key)) == 0x6A82);
    CHECK(run(*card, select_ef(ef_sign_pin)) == 0x6A82);
    CHECK(read_ef(*card, ef_availability) == h("008F00"));
    check_certificate_ef(*card, ef_sign_ca, "sign-ca.der");
    check_certificate_ef(*card, ef_auth_cert, "auth-cert.der");
    login(*card, Pin::Auth, "1234");  // the auth side works as usual
}
