// Fuzz target: configuration parsing (src/token/config.*): the `key = value` files, the
// C_Initialize pReserved string (p11-kit x-init-reserved) and the JPKI_PKCS11_* environment.
// Input: five parts separated by NUL bytes: pReserved, user file, system file, process name,
// environment (one NAME=value per line).
//
// Asserted: resolve_config() returns a Config or throws token::Error(CKR_ARGUMENTS_BAD) (an
// unknown key or value is refused, never a crash, never another exception); the answer is the
// same when asked twice; and a Config it returns, written back as pReserved items alone, resolves
// to itself (so each setting has one spelling that round-trips).
#include "scripted_connection.hpp"  // require / fail

#include "token/config.hpp"
#include "token/errors.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

using jpki::fuzz::require;
using namespace jpki::token;

namespace {

std::string render(const Config& c) {
    std::string out = "slots=";
    out += c.slots == SlotProfile::Auth ? "auth" : c.slots == SlotProfile::Sign ? "sign" : "both";
    out += ";allow_final_try=";
    out += c.allow_final_try ? "1" : "0";
    out += ";always_auth=";
    out += c.always_authenticate ? "yes" : "no";
    out += ";JPKI_PKCS11_PSS=";
    out += c.pss == PssMode::Off ? "off" : c.pss == PssMode::On ? "on" : "auto";
    out += " log=";  // white space separates items in pReserved, so no spaces around '='

    out += c.log == LogLevel::Error ? "error" : c.log == LogLevel::Info ? "info" : "debug";
    return out;
}

bool same(const Config& a, const Config& b) {
    return a.slots == b.slots && a.allow_final_try == b.allow_final_try &&
           a.always_authenticate == b.always_authenticate && a.pss == b.pss && a.log == b.log;
}

// Config, or the CK_RV it failed with.
struct Outcome {
    std::optional<Config> config;
    CK_RV rv = CKR_OK;
};

Outcome resolve(const ConfigSources& sources) {
    try {
        return {resolve_config(sources), CKR_OK};
    } catch (const Error& e) {
        require(e.rv() == CKR_ARGUMENTS_BAD, "configuration refused with a CK_RV other than CKR_ARGUMENTS_BAD");
        require(std::string_view(e.what()).size() > 0, "refusal without a reason");
        return {std::nullopt, e.rv()};
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        jpki::fuzz::fail("an exception other than token::Error");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (parts.size() < 4) {
        const std::size_t nul = input.find('\0', start);
        if (nul == std::string_view::npos) break;
        parts.emplace_back(input.substr(start, nul - start));
        start = nul + 1;
    }
    parts.emplace_back(input.substr(std::min(start, input.size())));
    parts.resize(5);

    ConfigSources sources;
    sources.init_reserved = parts[0];
    sources.user_file = parts[1];
    sources.system_file = parts[2];
    sources.process_name = parts[3];
    std::size_t line_start = 0;
    const std::string& env = parts[4];
    while (line_start < env.size()) {
        std::size_t end = env.find('\n', line_start);
        if (end == std::string::npos) end = env.size();
        const std::string line = env.substr(line_start, end - line_start);
        if (const auto eq = line.find('='); eq != std::string::npos) sources.environment[line.substr(0, eq)] = line.substr(eq + 1);
        line_start = end + 1;
    }

    (void)default_profile_for(sources.process_name);
    const Outcome first = resolve(sources);
    const Outcome second = resolve(sources);
    require(first.config.has_value() == second.config.has_value() && first.rv == second.rv,
            "resolve_config is not deterministic");
    if (first.config) {
        require(same(*first.config, *second.config), "resolve_config is not deterministic");
        ConfigSources again;
        again.init_reserved = render(*first.config);
        again.process_name = sources.process_name;
        const Outcome round_trip = resolve(again);
        require(round_trip.config && same(*round_trip.config, *first.config), "a Config does not round-trip");
    }
    return 0;
}
