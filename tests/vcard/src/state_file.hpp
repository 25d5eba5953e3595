// What a real card keeps across power cycles: PINs and retry counters (docs/design.md §4,
// "retry counters that persist for the life of the card"). Text `key=value` lines.
#pragma once

#include <optional>
#include <string>

namespace jpki::vcard {

struct PersistentState {
    std::string auth_pin;
    std::string sign_pin;
    int auth_tries = 0;
    int sign_tries = 0;
};

// nullopt when the file does not exist; throws std::runtime_error when it is unreadable or
// holds a malformed or out-of-range value.
std::optional<PersistentState> load_state(const std::string& path);
// Writes a temporary file beside `path` (mode 0600: it holds PINs) and renames it over
// `path`, so a crash never leaves half a file. Throws std::runtime_error on failure.
void save_state(const std::string& path, const PersistentState& state);

}  // namespace jpki::vcard
