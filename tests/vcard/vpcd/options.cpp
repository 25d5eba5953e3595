#include "options.hpp"

#include <jpki/vcard/hex.hpp>
#include <jpki/vcard/pin_format.hpp>

#include <charconv>
#include <string_view>

namespace jpki::vcard {
namespace {

long parse_number(std::string_view option, const std::string& value, long min, long max) {
    long n = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (value.empty() || ec != std::errc{} || end != value.data() + value.size() || n < min || n > max) {
        throw UsageError(std::string(option) + " wants a number from " + std::to_string(min) + " to " +
                         std::to_string(max) + ", not '" + value + "'");
    }
    return n;
}

}  // namespace

const char* usage_text() {
    return "usage: jpki-vcard [options]\n"
           "A virtual My Number Card (JPKI applet) that plugs into pcscd through vpcd.\n"
           "\n"
           "  --auth-pin PIN        authentication PIN, 4 digits (default 1234)\n"
           "  --sign-pin PIN        signature password, 6-16 of 0-9 A-Z (default ABC123)\n"
           "  --auth-tries N        auth PIN tries left at start, 0-3 (default 3)\n"
           "  --sign-tries N        signature password tries left, 0-5 (default 5)\n"
           "  --no-sign-cert        an under-15 card: no signing certificate, key or password\n"
           "  --pss                 accept COMPUTE DIGITAL SIGNATURE P1 04 (RSASSA-PSS)\n"
           "  --reselect-clears     re-selecting the JPKI AID drops verified PINs\n"
           "  --extended-apdu on|off   off: the card answers 6700 to extended-length APDUs (default on)\n"
           "  --short-ef-id on|off     off: READ BINARY by short EF identifier answers 6A86 (default on)\n"
           "  --reader-extended on|off off: the reader fails extended-length APDUs: answers one byte,\n"
           "                           no status word, and the card never sees them (default on)\n"
           "  --atr HEX             ATR to report (default 3BE000FF8131FE4514)\n"
           "  --apdu-latency-ms N   sleep N ms per APDU\n"
           "  --sign-latency-ms N   sleep N ms per signature\n"
           "  --state FILE          keep PINs and retry counters in FILE across runs\n"
           "  --trace FILE          append one line per APDU to FILE (PINs redacted)\n"
           "  --pki-dir DIR         certificates and keys (default: the test PKI)\n"
           "  --hostile MODE        spoil answers: truncated, oversized, nonsense, wrong-sw, random\n"
           "  --hostile-seed N      the hostile mode's seed (default 0): same seed, same answers\n"
           "  --hostile-percent N   share of answers spoiled, 0-100 (default 30)\n"
           "  --vpcd HOST:PORT      vpcd to connect to (default localhost:35963)\n"
           "  --help                this text\n";
}

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        std::string value;
        bool inline_value = false;
        if (const auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
            value = arg.substr(eq + 1);
            arg.resize(eq);
            inline_value = true;
        }
        const auto flag = [&] {
            if (inline_value) throw UsageError(arg + " takes no value");
        };
        const auto next = [&]() -> std::string {
            if (inline_value) return value;
            if (i + 1 >= argc) throw UsageError(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--help" || arg == "-h") {
            flag();
            o.help = true;
        } else if (arg == "--auth-pin") {
            o.card.auth_pin = next();
            if (!valid_auth_pin(o.card.auth_pin)) throw UsageError("--auth-pin must be exactly 4 digits");
        } else if (arg == "--sign-pin") {
            o.card.sign_pin = next();
            if (!valid_sign_pin(o.card.sign_pin)) {
                throw UsageError("--sign-pin must be 6 to 16 characters of 0-9 and A-Z");
            }
        } else if (arg == "--auth-tries") {
            o.card.auth_tries = static_cast<int>(parse_number(arg, next(), 0, auth_max_tries));
        } else if (arg == "--sign-tries") {
            o.card.sign_tries = static_cast<int>(parse_number(arg, next(), 0, sign_max_tries));
        } else if (arg == "--no-sign-cert") {
            flag();
            o.card.sign_cert = false;
        } else if (arg == "--pss") {
            flag();
            o.card.pss = true;
        } else if (arg == "--reselect-clears") {
            flag();
            o.card.reselect_clears = true;
        } else if (arg == "--extended-apdu" || arg == "--short-ef-id" || arg == "--reader-extended") {
            const std::string text = next();
            if (text != "on" && text != "off") {
                throw UsageError(std::string(arg).append(" wants on or off, not '").append(text).append("'"));
            }
            (arg == "--extended-apdu"  ? o.card.extended_apdu
             : arg == "--short-ef-id" ? o.card.short_ef_id
                                      : o.card.reader_extended) = text == "on";
        } else if (arg == "--atr") {
            const std::string text = next();
            const auto atr = parse_hex(text);
            if (!atr || atr->size() < 2 || atr->size() > 33) {
                throw UsageError("--atr wants 2 to 33 bytes of hex, not '" + text + "'");
            }
            o.card.atr = *atr;
        } else if (arg == "--apdu-latency-ms") {
            o.card.apdu_latency = std::chrono::milliseconds(parse_number(arg, next(), 0, 60000));
        } else if (arg == "--sign-latency-ms") {
            o.card.sign_latency = std::chrono::milliseconds(parse_number(arg, next(), 0, 60000));
        } else if (arg == "--state" || arg == "--trace" || arg == "--pki-dir") {
            const std::string path = next();
            if (path.empty()) throw UsageError(arg + " needs a non-empty path");
            (arg == "--state" ? o.card.state_file : arg == "--trace" ? o.card.trace_file : o.card.pki_dir) = path;
        } else if (arg == "--hostile") {
            const std::string mode = next();
            try {
                o.card.hostile.mode = parse_hostile_mode(mode);
            } catch (const std::invalid_argument& e) {
                throw UsageError(std::string("--hostile: ") + e.what() + ", not '" + mode + "'");
            }
        } else if (arg == "--hostile-seed") {
            const std::string text = next();
            std::uint64_t seed = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seed);
            if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
                throw UsageError("--hostile-seed wants an unsigned number, not '" + text + "'");
            }
            o.card.hostile.seed = seed;
        } else if (arg == "--hostile-percent") {
            o.card.hostile.percent = static_cast<int>(parse_number(arg, next(), 0, 100));
        } else if (arg == "--vpcd") {
            const std::string where = next();
            const auto colon = where.rfind(':');
            if (colon == std::string::npos || colon == 0) throw UsageError("--vpcd wants HOST:PORT, not '" + where + "'");
            o.vpcd_host = where.substr(0, colon);
            if (o.vpcd_host.size() > 2 && o.vpcd_host.front() == '[' && o.vpcd_host.back() == ']') {
                o.vpcd_host = o.vpcd_host.substr(1, o.vpcd_host.size() - 2);  // [::1]:35963
            }
            o.vpcd_port = static_cast<std::uint16_t>(parse_number("--vpcd port", where.substr(colon + 1), 1, 65535));
        } else {
            throw UsageError("unknown option '" + arg + "'");
        }
    }
    return o;
}

}  // namespace jpki::vcard
