// Never crash on any input: random APDUs always get at least a status word.
#include "helpers.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace vt;

TEST_CASE("Thousands of random APDUs never throw and always answer at least SW1 SW2", "[fuzz]") {
    CardConfig config;
    config.pss = true;
    auto card = make_card(config);
    std::mt19937 rng(20240301);
    const auto byte = [&] { return static_cast<std::uint8_t>(rng() & 0xFF); };
    const std::uint8_t classes[] = {0x00, 0x80, 0x01, 0x0C, 0x10, 0x40, 0x84, 0xFF};
    const std::uint8_t instructions[] = {0xA4, 0xB0, 0x20, 0x24, 0x2A, 0x84, 0x70, 0xCA};
    std::size_t ok = 0;
    for (int i = 0; i < 5000; ++i) {
        Bytes apdu;
        switch (rng() % 4) {
        case 0: {  // anything at all
            apdu.resize(rng() % 300);
            for (auto& b : apdu) b = byte();
            break;
        }
        case 1: {  // a plausible header with random lengths
            apdu = {classes[rng() % 8], instructions[rng() % 8], byte(), byte()};
            const std::size_t extra = rng() % 40;
            for (std::size_t k = 0; k < extra; ++k) apdu.push_back(byte());
            if (apdu.size() > 4 && rng() % 2) apdu[4] = static_cast<std::uint8_t>(apdu.size() - 5 - rng() % 2);
            break;
        }
        case 2: {  // well-formed-ish command to a random EF, keeping state moving
            apdu = select_ef(static_cast<std::uint16_t>(rng() % 0x20));
            break;
        }
        default: {
            const int pick = static_cast<int>(rng() % 6);
            if (pick == 0) apdu = select_jpki();
            if (pick == 1) apdu = verify(rng() % 2 ? "1234" : "ABC123");
            if (pick == 2) apdu = read_binary(static_cast<std::uint16_t>(rng() % 0x900), byte());
            if (pick == 3) apdu = compute_digital_signature(Bytes(1 + rng() % 250, 0x5A), rng() % 2 ? 0x00 : 0x04);
            if (pick == 4) apdu = get_challenge(byte());
            if (pick == 5) apdu = verify_empty();
            break;
        }
        }
        Bytes answer;
        REQUIRE_NOTHROW(answer = card->process(apdu));
        REQUIRE(answer.size() >= 2);
        REQUIRE(answer.size() <= 258);
        if (sw(answer) == 0x9000) ++ok;
    }
    CHECK(ok > 100);  // the generator does reach the commands' real paths
    // Only right PINs were sent in well-formed VERIFYs, but random bytes may have hit a PIN EF:
    // whatever happened, the card is still a card.
    card->power_on();
    CHECK(run(*card, select_jpki()) == 0x9000);
}
