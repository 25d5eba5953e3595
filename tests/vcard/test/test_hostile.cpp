// The hostile mode (CardConfig::hostile): spoiled answers, deterministic from the seed, and an
// honest card when it is off.
#include "helpers.hpp"

#include <catch2/catch.hpp>

#include <jpki/vcard/config.hpp>

#include <vector>

using namespace vt;
using jpki::vcard::HostileMode;

namespace {

// The answers of a fixed, realistic command sequence (the module's probe, certificate read,
// login and signature; no GET CHALLENGE, whose honest answer is random), repeated so that
// many answers are seen.
std::vector<Bytes> answers_of(HostileMode mode, std::uint64_t seed, int percent = 100) {
    CardConfig config;
    config.hostile = {mode, seed, percent};
    auto card = make_card(config);
    const std::vector<Bytes> commands = {
        select_jpki(),       select_ef(ef_token_info),  read_binary(0, 32),
        select_ef(ef_auth_cert), read_binary(0, 0),     read_binary(0x100, 0),
        select_ef(ef_auth_pin),  verify_empty(),        verify("1234"),
        select_ef(ef_auth_key),  compute_digital_signature(Bytes(35, 0x11)), read_binary(0x10, 8),
    };
    std::vector<Bytes> out;
    for (int round = 0; round < 20; ++round) {
        for (const Bytes& command : commands) out.push_back(card->process(command));
    }
    return out;
}

std::uint16_t sw_of(const Bytes& answer) { return answer.size() < 2 ? 0 : sw(answer); }

}  // namespace

TEST_CASE("Hostile mode off: answers are the honest card's", "[hostile]") {
    CHECK(answers_of(HostileMode::Off, 1) == answers_of(HostileMode::Off, 2));
    // 0 %: nothing spoiled.
    CHECK(answers_of(HostileMode::Random, 7, 0) == answers_of(HostileMode::Off, 7));
}

TEST_CASE("Hostile mode is deterministic from its seed", "[hostile]") {
    for (const HostileMode mode : {HostileMode::Truncated, HostileMode::Oversized, HostileMode::Nonsense,
                                   HostileMode::WrongSw, HostileMode::Random}) {
        CHECK(answers_of(mode, 42, 50) == answers_of(mode, 42, 50));
        CHECK(answers_of(mode, 42, 50) != answers_of(mode, 43, 50));
    }
}

TEST_CASE("Truncated answers are shorter than the honest ones", "[hostile]") {
    const auto honest = answers_of(HostileMode::Off, 0);
    const auto spoiled = answers_of(HostileMode::Truncated, 5);
    REQUIRE(honest.size() == spoiled.size());
    std::size_t without_sw = 0;
    for (std::size_t i = 0; i < honest.size(); ++i) {
        CHECK(spoiled[i].size() < honest[i].size());
        if (spoiled[i].size() < 2) ++without_sw;
    }
    CHECK(without_sw > 0);  // some answers lose their status word
}

TEST_CASE("Oversized answers carry more data than Le asked for", "[hostile]") {
    const auto spoiled = answers_of(HostileMode::Oversized, 9);
    // Command 2 of each round is READ BINARY Le 32, command 11 READ BINARY Le 8.
    for (std::size_t i = 0; i < spoiled.size(); i += 12) {
        CHECK(spoiled[i + 2].size() - 2 > 32);
        CHECK(spoiled[i + 11].size() - 2 > 8);
    }
}

TEST_CASE("Nonsense answers replace the data, mostly under 9000", "[hostile]") {
    const auto honest = answers_of(HostileMode::Off, 0);
    const auto spoiled = answers_of(HostileMode::Nonsense, 11);
    std::size_t changed = 0, ok = 0;
    for (std::size_t i = 0; i < honest.size(); ++i) {
        REQUIRE(spoiled[i].size() >= 2);
        if (spoiled[i] != honest[i]) ++changed;
        if (sw(spoiled[i]) == 0x9000) ++ok;
    }
    CHECK(changed > honest.size() * 3 / 4);
    CHECK(ok > honest.size() / 2);
}

TEST_CASE("Wrong status words include 61xx, 6Cxx, 63Cx off VERIFY, and 9000 on errors", "[hostile]") {
    bool more_data = false, wrong_le = false, counter_off_verify = false, ok_with_garbage = false;
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        const auto spoiled = answers_of(HostileMode::WrongSw, seed);
        for (std::size_t i = 0; i < spoiled.size(); ++i) {
            const std::uint16_t s = sw_of(spoiled[i]);
            const bool is_verify = i % 12 == 7 || i % 12 == 8;
            if ((s & 0xFF00) == 0x6100) more_data = true;
            if ((s & 0xFF00) == 0x6C00) wrong_le = true;
            if ((s & 0xFFF0) == 0x63C0 && !is_verify) counter_off_verify = true;
            if (s == 0x9000 && i % 12 == 11 && spoiled[i].size() != 8 + 2) ok_with_garbage = true;
        }
    }
    CHECK(more_data);
    CHECK(wrong_le);
    CHECK(counter_off_verify);
    CHECK(ok_with_garbage);
}

TEST_CASE("A hostile card still keeps its PINs: spoiled answers change no card state", "[hostile]") {
    CardConfig config;
    config.hostile = {HostileMode::Random, 3, 100};
    auto card = make_card(config);
    for (int i = 0; i < 50; ++i) {
        card->process(select_jpki());
        card->process(select_ef(ef_auth_pin));
        card->process(verify("1234"));
    }
    CHECK(card->tries_left(Pin::Auth) == 3);
    CHECK(card->verified(Pin::Auth));
}

TEST_CASE("Hostile mode names", "[hostile]") {
    using jpki::vcard::parse_hostile_mode;
    CHECK(parse_hostile_mode("off") == HostileMode::Off);
    CHECK(parse_hostile_mode("truncated") == HostileMode::Truncated);
    CHECK(parse_hostile_mode("oversized") == HostileMode::Oversized);
    CHECK(parse_hostile_mode("nonsense") == HostileMode::Nonsense);
    CHECK(parse_hostile_mode("wrong-sw") == HostileMode::WrongSw);
    CHECK(parse_hostile_mode("random") == HostileMode::Random);
    CHECK_THROWS_AS(parse_hostile_mode("evil"), std::invalid_argument);
    CardConfig config;
    config.hostile.percent = 101;
    CHECK_THROWS_AS(make_card(config), std::invalid_argument);
}
