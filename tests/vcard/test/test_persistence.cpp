// State file (counters and PINs a real card remembers), trace redaction, construction errors.
#include "helpers.hpp"

#include "trace.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

using namespace vt;

namespace {

std::vector<std::string> lines_of(const std::string& path) {
    std::istringstream in(slurp(path));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

}  // namespace

TEST_CASE("The state file keeps retry counters across re-construction", "[state_file]") {
    TempDir dir;
    CardConfig config;
    config.state_file = dir.file("card.state");
    {
        auto card = make_card(config);
        login(*card, Pin::Sign, "ABC123");
        REQUIRE(run(*card, verify("WRONG1")) == 0x63C4);
        REQUIRE(run(*card, select_ef(ef_auth_pin)) == 0x9000);
        REQUIRE(run(*card, verify("0000")) == 0x63C2);
        REQUIRE(run(*card, verify("0000")) == 0x63C1);
    }
    auto card = make_card(config);  // the config says 3 and 5; the card remembers 1 and 4
    CHECK(card->tries_left(Pin::Auth) == 1);
    CHECK(card->tries_left(Pin::Sign) == 4);
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_auth_pin)) == 0x9000);
    CHECK(run(*card, verify_empty()) == 0x63C1);
    CHECK(run(*card, verify("1234")) == 0x9000);
    auto third = make_card(config);
    CHECK(third->tries_left(Pin::Auth) == 3);
}

TEST_CASE("The state file keeps a changed PIN and overrides the configured one", "[state_file]") {
    TempDir dir;
    CardConfig config;
    config.state_file = dir.file("card.state");
    {
        auto card = make_card(config);
        login(*card, Pin::Auth, "1234");
        REQUIRE(run(*card, change_reference_data("9876")) == 0x9000);
    }
    CHECK((std::filesystem::status(config.state_file).permissions() & std::filesystem::perms::others_read) ==
          std::filesystem::perms::none);
    auto card = make_card(config);
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_auth_pin)) == 0x9000);
    CHECK(run(*card, verify("1234")) == 0x63C2);
    CHECK(run(*card, verify("9876")) == 0x9000);
}

TEST_CASE("Without an existing state file the card starts from its config and writes only on change", "[state_file]") {
    TempDir dir;
    CardConfig config;
    config.state_file = dir.file("card.state");
    config.auth_tries = 2;
    auto card = make_card(config);
    CHECK(card->tries_left(Pin::Auth) == 2);
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    CHECK_FALSE(std::filesystem::exists(config.state_file));
    login(*card, Pin::Auth, "1234");  // counter 2 -> 3 is a change
    CHECK(std::filesystem::exists(config.state_file));
    CHECK_FALSE(std::filesystem::exists(config.state_file + ".tmp"));
    CHECK(slurp(config.state_file).find("auth_tries=3") != std::string::npos);
}

TEST_CASE("A malformed state file is an error at construction", "[state_file]") {
    TempDir dir;
    CardConfig config;
    config.state_file = dir.file("card.state");
    for (const char* text : {"auth_pin=12\nsign_pin=ABC123\nauth_tries=3\nsign_tries=5\n",
                             "auth_pin=1234\nsign_pin=ABC123\nauth_tries=4\nsign_tries=5\n",
                             "auth_pin=1234\nsign_pin=ABC123\nauth_tries=3\n",
                             "hello\n"}) {
        INFO(text);
        std::ofstream(config.state_file) << text;
        CHECK_THROWS_AS(Card(config), std::runtime_error);
    }
}

TEST_CASE("Bad configs and missing PKI files are errors at construction", "[config]") {
    CardConfig bad_pin;
    bad_pin.auth_pin = "12345";
    CHECK_THROWS_AS(Card(bad_pin), std::invalid_argument);
    CardConfig bad_sign;
    bad_sign.sign_pin = "abc123";
    CHECK_THROWS_AS(Card(bad_sign), std::invalid_argument);
    CardConfig bad_tries;
    bad_tries.auth_tries = 4;
    CHECK_THROWS_AS(Card(bad_tries), std::invalid_argument);
    TempDir dir;
    CardConfig no_pki;
    no_pki.pki_dir = dir.path().string();
    CHECK_THROWS_WITH(Card(no_pki), Catch::Contains("auth-cert.der"));
}

TEST_CASE("The trace has one line per APDU with its SW, and events as # lines", "[trace]") {
    TempDir dir;
    CardConfig config;
    config.trace_file = dir.file("trace.txt");
    {
        auto card = make_card(config);  // power on
        REQUIRE(run(*card, select_jpki()) == 0x9000);
        REQUIRE(run(*card, select_ef(ef_availability)) == 0x9000);
        REQUIRE(run(*card, read_binary(0, 3)) == 0x9000);
        REQUIRE(run(*card, h("00")) == 0x6700);
        card->reset();
        card->power_off();
    }
    const auto lines = lines_of(config.trace_file);
    REQUIRE(lines.size() == 7);
    CHECK(lines[0] == "# power on");
    CHECK(lines[1] == "00A4040C0AD392F000260100000001 9000");
    CHECK(lines[2] == "00A4020C020008 9000");
    CHECK(lines[3] == "00B0000003 9000");
    CHECK(lines[4] == "00 6700");
    CHECK(lines[5] == "# reset");
    CHECK(lines[6] == "# power off");
}

TEST_CASE("The trace never holds a PIN", "[trace]") {
    TempDir dir;
    CardConfig config;
    config.trace_file = dir.file("trace.txt");
    config.auth_pin = "4711";
    config.sign_pin = "SECRET42";
    {
        auto card = make_card(config);
        login(*card, Pin::Auth, "4711");
        REQUIRE(run(*card, verify("0815")) == 0x63C2);
        REQUIRE(run(*card, verify("4711")) == 0x9000);
        REQUIRE(run(*card, change_reference_data("2468")) == 0x9000);
        login(*card, Pin::Sign, "SECRET42");
        REQUIRE(run(*card, change_reference_data("NEWPASS99")) == 0x9000);
        // Malformed commands carrying a PIN: no Lc, wrong Lc, wrong class.
        run(*card, h("0020008034373131"));
        run(*card, h("002000800934373131"));
        run(*card, h("8020008004" "34373131"));
    }
    const std::string trace = slurp(config.trace_file);
    for (const char* secret : {"4711", "0815", "2468", "SECRET42", "NEWPASS99"}) {
        INFO(secret);
        const std::string pin(secret);
        CHECK(trace.find(pin) == std::string::npos);
        CHECK(trace.find(jpki::vcard::to_hex(Bytes(pin.begin(), pin.end()))) == std::string::npos);
    }
    CHECK(trace.find("0020008004******** 63C2\n") != std::string::npos);
    CHECK(trace.find("0020008008**************** 9000\n") != std::string::npos);
    CHECK(trace.find("0024018004******** 9000\n") != std::string::npos);
}

TEST_CASE("Redaction hides every byte after the header of VERIFY and CHANGE REFERENCE DATA", "[trace]") {
    using jpki::vcard::redacted_command_hex;
    CHECK(redacted_command_hex(h("0020008004313233343536")) == "00200080**************");
    CHECK(redacted_command_hex(h("00200080")) == "00200080");
    CHECK(redacted_command_hex(h("0020008031")) == "0020008031");  // a lone Le byte
    CHECK(redacted_command_hex(h("00240180043536373800")) == "00240180************");
    CHECK(redacted_command_hex(h("00A4040C")) == "00A4040C");
}
