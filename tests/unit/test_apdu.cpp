// APDU codec and the JPKI command APDUs, byte for byte (docs/card.md "Commands").
#include "card/apdu.hpp"
#include "card/commands.hpp"
#include "card/errors.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

namespace {

using jpki::Bytes;
using jpki::SecureBytes;
namespace card = jpki::card;
namespace command = jpki::card::command;

std::string hex(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string s;
    for (auto b : bytes) {
        s += digits[b >> 4];
        s += digits[b & 0xF];
    }
    return s;
}

Bytes unhex(std::string_view text) {
    Bytes out;
    int high = -1;
    for (char c : text) {
        if (c == ' ') continue;
        const int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : c - 'a' + 10;
        if (high < 0) {
            high = v;
        } else {
            out.push_back(static_cast<std::uint8_t>((high << 4) | v));
            high = -1;
        }
    }
    return out;
}

}  // namespace

TEST_CASE("APDU cases 1 to 4 are encoded as short APDUs", "[apdu]") {
    const card::CommandHeader h{0x00, 0xB0, 0x01, 0x02};
    const Bytes data = unhex("AABBCC");
    CHECK(hex(card::build_command(h)) == "00B00102");                          // case 1
    CHECK(hex(card::build_command(h, {}, 16)) == "00B0010210");                // case 2
    CHECK(hex(card::build_command(h, {}, 256)) == "00B0010200");               // Le 256 -> 00
    CHECK(hex(card::build_command(h, data)) == "00B0010203AABBCC");            // case 3
    CHECK(hex(card::build_command(h, data, 256)) == "00B0010203AABBCC00");     // case 4
    CHECK(hex(card::build_command(h, data, 1)) == "00B0010203AABBCC01");
}

TEST_CASE("APDU bounds: Lc up to 255, Le 1..256", "[apdu]") {
    const card::CommandHeader h{0x00, 0x2A, 0x00, 0x80};
    const Bytes max_data(255, 0x11);
    const Bytes too_long(256, 0x11);
    const Bytes apdu = card::build_command(h, max_data, 256);
    CHECK(apdu.size() == 4 + 1 + 255 + 1);
    CHECK(apdu[4] == 0xFF);
    CHECK(apdu.back() == 0x00);
    CHECK_THROWS_AS(card::build_command(h, too_long), std::length_error);
    CHECK_THROWS_AS(card::build_command(h, {}, 0), std::length_error);
    CHECK_THROWS_AS(card::build_command(h, {}, 257), std::length_error);
    CHECK_THROWS_AS(card::build_secret_command(h, too_long), std::length_error);
}

TEST_CASE("secret command APDUs are the same bytes in a SecureBytes", "[apdu]") {
    const card::CommandHeader h{0x00, 0x20, 0x00, 0x80};
    const Bytes pin = unhex("31323334");
    const SecureBytes secret = card::build_secret_command(h, pin);
    CHECK(hex(secret.view()) == hex(card::build_command(h, pin)));
}

TEST_CASE("responses split into data and status word", "[apdu]") {
    const card::Response ok = card::parse_response(unhex("0102039000"));
    CHECK(hex(ok.data) == "010203");
    CHECK(ok.sw == 0x9000);
    CHECK(ok.ok());
    const card::Response bare = card::parse_response(unhex("63C2"));
    CHECK(bare.data.empty());
    CHECK(bare.sw == 0x63C2);
    CHECK(bare.sw1() == 0x63);
    CHECK(bare.sw2() == 0xC2);
    CHECK_FALSE(bare.ok());
    try {
        (void)card::parse_response(unhex("90"));
        FAIL("a one-byte answer was accepted");
    } catch (const card::CardError& e) {
        CHECK(e.kind() == card::CardError::Kind::InvalidResponse);
    }
    CHECK_THROWS_AS(card::parse_response({}), card::CardError);
}

TEST_CASE("JPKI command APDUs, byte for byte", "[apdu][jpki]") {
    CHECK(hex(command::select_ap()) == "00A4040C0AD392F000260100000001");
    CHECK(hex(command::select_ef(0x0006)) == "00A4020C020006");
    CHECK(hex(command::select_ef(0x001B)) == "00A4020C02001B");
    CHECK(hex(command::read_binary(0, 4)) == "00B0000004");
    CHECK(hex(command::read_binary(0x0104, 256)) == "00B0010400");
    CHECK(hex(command::read_binary(0x7FFF, 1)) == "00B07FFF01");
    CHECK_THROWS_AS(command::read_binary(0x8000, 1), std::length_error);
    CHECK(hex(command::verify(SecureBytes(std::string_view("1234"))).view()) == "002000800431323334");
    CHECK(hex(command::verify_status()) == "00200080");
    CHECK_THROWS_AS(command::verify(SecureBytes()), std::length_error);
    CHECK(hex(command::change_reference_data(SecureBytes(std::string_view("ABC123"))).view()) ==
          "0024018006414243313233");
    CHECK(hex(command::get_challenge(8)) == "0084000008");
    CHECK(hex(command::get_challenge(256)) == "0084000000");
    CHECK(hex(command::get_response(0x10)) == "00C0000010");
}

TEST_CASE("COMPUTE DIGITAL SIGNATURE: P1 00 PKCS#1 v1.5, P1 04 PSS, Le 00", "[apdu][jpki]") {
    const Bytes digest_info = unhex("3031300D060960864801650304020105000420" + std::string(64, 'A'));
    const Bytes apdu = command::compute_digital_signature(digest_info, command::SignatureFormat::Pkcs1V15);
    CHECK(hex(std::span(apdu).first(5)) == "802A008033");
    CHECK(apdu.size() == 5 + 51 + 1);
    CHECK(apdu.back() == 0x00);
    const Bytes hash(32, 0xCD);
    const Bytes pss = command::compute_digital_signature(hash, command::SignatureFormat::PssSha256);
    CHECK(hex(pss) == "802A048020" + hex(hash) + "00");
    CHECK_THROWS_AS(command::compute_digital_signature({}, command::SignatureFormat::Pkcs1V15), std::length_error);
}
