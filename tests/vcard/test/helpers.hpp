// Shared test vocabulary: APDU builders in the card's words, and small fixtures.
#pragma once

#include <jpki/vcard/card.hpp>
#include <jpki/vcard/hex.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace vt {

using jpki::Bytes;
using jpki::vcard::Card;
using jpki::vcard::CardConfig;
using jpki::vcard::Pin;

inline constexpr std::uint16_t ef_sign_cert = 0x0001, ef_sign_ca = 0x0002, ef_token_info = 0x0006,
                               ef_availability = 0x0008, ef_auth_cert = 0x000A, ef_auth_ca = 0x000B,
                               ef_auth_key = 0x0017, ef_auth_pin = 0x0018, ef_sign_key = 0x001A,
                               ef_sign_pin = 0x001B;

Bytes h(std::string_view hex);  // hex literal -> bytes (aborts the test if malformed)
std::uint16_t sw(const Bytes& response);
Bytes body(const Bytes& response);  // response without SW

Bytes jpki_aid();
Bytes select_aid(const Bytes& aid, std::uint8_t p2 = 0x0C);
Bytes select_jpki();
Bytes select_ef(std::uint16_t fid);
Bytes read_binary(std::uint16_t offset, std::uint8_t le);
Bytes verify(std::string_view pin);
Bytes verify_empty();
Bytes compute_digital_signature(std::span<const std::uint8_t> data, std::uint8_t p1 = 0x00);
Bytes change_reference_data(std::string_view new_pin);
Bytes get_challenge(std::uint8_t le);

// A powered card with the default test profile plus `config`.
std::unique_ptr<Card> make_card(CardConfig config = {});
std::uint16_t run(Card& card, const Bytes& command);  // SW only
// SELECT JPKI AP (no), SELECT PIN EF, VERIFY; requires 9000.
void login(Card& card, Pin which, std::string_view pin);
// Reads an EF whole by READ BINARY until 6B00 (the filler included).
Bytes read_ef(Card& card, std::uint16_t fid);
Bytes pki_file(const std::string& name);  // a file of the test PKI
std::string slurp(const std::filesystem::path& path);

// A fresh directory under /tmp, removed with its contents at the end of the test.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::filesystem::path path() const { return path_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

}  // namespace vt
