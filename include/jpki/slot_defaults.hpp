// Which slots a program sees by default, by its process name (/proc/self/comm, at most 15
// characters): the one table read by the module (token/config.cpp) and by `jpki doctor`, which
// reports it without linking the token layer (docs/design.md §3 "Which slots an application sees";
// issue 8). Header-only, no dependencies.
//
// NSS logs in to every token holding user certificates: a browser must not be offered the
// signature password, nor LibreOffice the 4-digit PIN. Thunderbird signs mail (S/MIME) with the
// signing certificate and logs in to web-like services with neither, so it sees both (issue 8).
// poppler's pdfsig (-add-signature) logs in to every token that needs it with its one -nss-pwd
// and gives up when any token refuses: its password callback answers only the first call (issue
// 10). With both tokens, the 4-digit PIN slot gets the signature password and refuses it. A
// document-signing tool has no use for the authentication key (JPKI: it proves who is there, it
// does not sign documents), so pdfsig sees the sign slot only, as LibreOffice does.
#pragma once

#include <array>
#include <string_view>

namespace jpki {

enum class DefaultSlots { Auth, Sign, Both };

struct ProcessSlots {
    std::string_view process_name;  // lower case, as /proc/self/comm shows it
    DefaultSlots slots;
};

// Every process name not listed here sees both slots.
inline constexpr std::array<ProcessSlots, 9> kProcessSlots = {{
    {"firefox", DefaultSlots::Auth},
    {"firefox-esr", DefaultSlots::Auth},
    {"firefox-bin", DefaultSlots::Auth},
    {"chrome", DefaultSlots::Auth},
    {"chromium", DefaultSlots::Auth},
    {"chromium-browse", DefaultSlots::Auth},  // "chromium-browser" cut to 15 characters
    {"soffice.bin", DefaultSlots::Sign},
    {"soffice", DefaultSlots::Sign},
    {"pdfsig", DefaultSlots::Sign},
}};

// `lower_case_name` must already be lower case.
constexpr DefaultSlots default_slots_for(std::string_view lower_case_name) noexcept {
    for (const auto& entry : kProcessSlots)
        if (entry.process_name == lower_case_name) return entry.slots;
    return DefaultSlots::Both;
}

}  // namespace jpki
