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
//
// OpenSSH logs in to servers, which is what the authentication key is for; the signature key
// (keyUsage nonRepudiation) signs documents and has no place in ssh (issue 9). ssh and ssh-keygen
// load the module themselves (ssh -I, PKCS11Provider, ssh-keygen -D) in OpenSSH 9.2 (Debian 12);
// ssh-agent loads it in ssh-pkcs11-helper (its process name cut to 15 characters; later upstream
// OpenSSH runs ssh's own PKCS#11 keys there too), which `ssh-add -s` asks to log in to
// every token with its one "Enter passphrase for PKCS#11:" answer, naming no token. With both
// tokens, an answer of the signature password's form goes to the sign slot: a wrong one costs a
// signature try (5 in all), the right one puts the signature key in the agent, which then offers
// it to every server. So OpenSSH sees the auth slot only.
#pragma once

#include <array>
#include <string_view>

namespace jpki {

enum class DefaultSlots { Auth, Sign, Both };

struct ProcessSlots {
    std::string_view process_name;  // lower case, as /proc/self/comm shows it
    DefaultSlots slots;
    // For `jpki doctor`, which shows the rows of one program as one line: the program's name and
    // the command the holder types that runs this process (ssh-agent for ssh-pkcs11-helper).
    std::string_view program;
    std::string_view command;
};

// Every process name not listed here sees both slots. Rows of one program are adjacent.
inline constexpr std::array<ProcessSlots, 12> kProcessSlots = {{
    {"firefox", DefaultSlots::Auth, "Firefox", "firefox"},
    {"firefox-esr", DefaultSlots::Auth, "Firefox", "firefox-esr"},
    {"firefox-bin", DefaultSlots::Auth, "Firefox", "firefox"},
    {"chrome", DefaultSlots::Auth, "Chrome/Chromium", "google-chrome"},
    {"chromium", DefaultSlots::Auth, "Chrome/Chromium", "chromium"},
    {"chromium-browse", DefaultSlots::Auth, "Chrome/Chromium", "chromium-browser"},  // cut to 15 characters
    {"soffice.bin", DefaultSlots::Sign, "LibreOffice", "libreoffice"},
    {"soffice", DefaultSlots::Sign, "LibreOffice", "soffice"},
    {"pdfsig", DefaultSlots::Sign, "pdfsig", "pdfsig"},
    {"ssh", DefaultSlots::Auth, "OpenSSH", "ssh"},
    {"ssh-keygen", DefaultSlots::Auth, "OpenSSH", "ssh-keygen"},
    {"ssh-pkcs11-help", DefaultSlots::Auth, "OpenSSH", "ssh-agent"},  // ssh-pkcs11-helper, cut to 15 characters
}};

// `lower_case_name` must already be lower case.
constexpr DefaultSlots default_slots_for(std::string_view lower_case_name) noexcept {
    for (const auto& entry : kProcessSlots)
        if (entry.process_name == lower_case_name) return entry.slots;
    return DefaultSlots::Both;
}

}  // namespace jpki
