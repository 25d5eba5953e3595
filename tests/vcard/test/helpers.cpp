#include "helpers.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <initializer_list>
#include <fstream>
#include <iterator>

namespace vt {

namespace {

// Header + Lc + data, built byte by byte (g++ 12 -O2 warns falsely on insert() after an
// initializer-list construction).
Bytes with_data(std::initializer_list<std::uint8_t> header, std::span<const std::uint8_t> data) {
    Bytes c;
    c.reserve(header.size() + 2 + data.size());
    for (const auto b : header) c.push_back(b);
    c.push_back(static_cast<std::uint8_t>(data.size()));
    for (const auto b : data) c.push_back(b);
    return c;
}

}  // namespace

Bytes h(std::string_view hex) {
    const auto bytes = jpki::vcard::parse_hex(hex);
    REQUIRE(bytes.has_value());
    return *bytes;
}

std::uint16_t sw(const Bytes& response) {
    REQUIRE(response.size() >= 2);
    return static_cast<std::uint16_t>((response[response.size() - 2] << 8) | response.back());
}

Bytes body(const Bytes& response) {
    REQUIRE(response.size() >= 2);
    return Bytes(response.begin(), response.end() - 2);
}

Bytes jpki_aid() { return h("D392F000260100000001"); }

Bytes select_aid(const Bytes& aid, std::uint8_t p2) {
    return with_data({0x00, 0xA4, 0x04, p2}, aid);
}

Bytes select_jpki() { return select_aid(jpki_aid()); }

Bytes select_ef(std::uint16_t fid) {
    return {0x00, 0xA4, 0x02, 0x0C, 0x02, static_cast<std::uint8_t>(fid >> 8),
            static_cast<std::uint8_t>(fid & 0xFF)};
}

Bytes read_binary(std::uint16_t offset, std::uint8_t le) {
    return {0x00, 0xB0, static_cast<std::uint8_t>(offset >> 8), static_cast<std::uint8_t>(offset & 0xFF), le};
}

Bytes verify(std::string_view pin) {
    return with_data({0x00, 0x20, 0x00, 0x80}, Bytes(pin.begin(), pin.end()));
}

Bytes verify_empty() { return {0x00, 0x20, 0x00, 0x80}; }

Bytes compute_digital_signature(std::span<const std::uint8_t> data, std::uint8_t p1) {
    Bytes c = with_data({0x80, 0x2A, p1, 0x80}, data);
    c.push_back(0x00);  // Le 00: case 4
    return c;
}

Bytes change_reference_data(std::string_view new_pin) {
    return with_data({0x00, 0x24, 0x01, 0x80}, Bytes(new_pin.begin(), new_pin.end()));
}

Bytes get_challenge(std::uint8_t le) { return {0x00, 0x84, 0x00, 0x00, le}; }

std::unique_ptr<Card> make_card(CardConfig config) {
    auto card = std::make_unique<Card>(std::move(config));
    card->power_on();
    return card;
}

std::uint16_t run(Card& card, const Bytes& command) { return sw(card.process(command)); }

void login(Card& card, Pin which, std::string_view pin) {
    REQUIRE(run(card, select_jpki()) == 0x9000);
    REQUIRE(run(card, select_ef(which == Pin::Auth ? ef_auth_pin : ef_sign_pin)) == 0x9000);
    REQUIRE(run(card, verify(pin)) == 0x9000);
}

Bytes read_ef(Card& card, std::uint16_t fid) {
    REQUIRE(run(card, select_ef(fid)) == 0x9000);
    Bytes content;
    for (;;) {
        const Bytes r = card.process(read_binary(static_cast<std::uint16_t>(content.size()), 0x00));
        if (sw(r) == 0x6B00) break;
        REQUIRE(sw(r) == 0x9000);
        const Bytes chunk = body(r);
        REQUIRE(!chunk.empty());
        content.insert(content.end(), chunk.begin(), chunk.end());
        REQUIRE(content.size() <= 0x7FFF);
    }
    return content;
}

std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Bytes pki_file(const std::string& name) {
    const std::string text = slurp(std::filesystem::path(JPKI_TEST_PKI_DIR) / name);
    REQUIRE(!text.empty());
    return Bytes(text.begin(), text.end());
}

TempDir::TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "vcard-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

}  // namespace vt
