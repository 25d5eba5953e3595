// The debug log shows every APDU but never a PIN (docs/design.md §3 "Configuration").
#include "token/log.hpp"

#include <catch2/catch.hpp>

using jpki::Bytes;
using jpki::token::redacted_apdu;

TEST_CASE("log: VERIFY and CHANGE REFERENCE DATA data are shown as **", "[token][log]") {
    CHECK(redacted_apdu(Bytes{0x00, 0x20, 0x00, 0x80, 0x04, '1', '2', '3', '4'}) == "0020008004********");
    CHECK(redacted_apdu(Bytes{0x00, 0x24, 0x01, 0x80, 0x06, 'A', 'B', 'C', '1', '2', '3'}) ==
          "0024018006************");
    // The empty VERIFY carries no PIN and stays readable; other commands are shown whole.
    CHECK(redacted_apdu(Bytes{0x00, 0x20, 0x00, 0x80}) == "00200080");
    CHECK(redacted_apdu(Bytes{0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18}) == "00A4020C020018");
}

TEST_CASE("log: levels include the ones below them", "[token][log]") {
    using jpki::token::LogLevel;
    const jpki::token::Logger info(LogLevel::Info);
    CHECK(info.enabled(LogLevel::Error));
    CHECK(info.enabled(LogLevel::Info));
    CHECK_FALSE(info.enabled(LogLevel::Debug));
    CHECK_FALSE(jpki::token::Logger(LogLevel::Error).enabled(LogLevel::Info));
}
