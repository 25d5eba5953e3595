// jpki-vcard's command line.
#pragma once

#include <jpki/vcard/config.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace jpki::vcard {

struct Options {
    CardConfig card;
    std::string vpcd_host = "localhost";
    std::uint16_t vpcd_port = 35963;  // vpcd's default port
    bool help = false;
};

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Throws UsageError with a message naming the option at fault.
Options parse_options(int argc, char** argv);
const char* usage_text();

}  // namespace jpki::vcard
