// Configuration sources and their order (docs/design.md §3 "Configuration", "Which slots").
#include "token/config.hpp"
#include "token/errors.hpp"

#include <catch2/catch.hpp>

using jpki::token::ConfigSources;
using jpki::token::PssMode;
using jpki::token::resolve_config;
using jpki::token::SlotProfile;

TEST_CASE("config: the slot profile follows the process name", "[token][config]") {
    using jpki::token::default_profile_for;
    CHECK(default_profile_for("firefox-esr") == SlotProfile::Auth);
    CHECK(default_profile_for("firefox") == SlotProfile::Auth);
    CHECK(default_profile_for("chromium") == SlotProfile::Auth);
    CHECK(default_profile_for("chromium-browse") == SlotProfile::Auth);
    CHECK(default_profile_for("soffice.bin") == SlotProfile::Sign);
    // pdfsig hands its one password to every token wanting a login (issue 10).
    CHECK(default_profile_for("pdfsig") == SlotProfile::Sign);
    CHECK(default_profile_for("Firefox") == SlotProfile::Auth);
    // OpenSSH logs in with the authentication key; ssh-add -s hands its one answer to every token
    // (issue 9). ssh-agent loads the module in ssh-pkcs11-helper, "ssh-pkcs11-help" in /proc.
    CHECK(default_profile_for("ssh") == SlotProfile::Auth);
    CHECK(default_profile_for("ssh-keygen") == SlotProfile::Auth);
    CHECK(default_profile_for("ssh-pkcs11-help") == SlotProfile::Auth);
    CHECK(default_profile_for("ssh-add") == SlotProfile::Both);  // does not load the module
    // Thunderbird signs mail (S/MIME) with the signature token: it sees both (issue 8).
    CHECK(default_profile_for("thunderbird") == SlotProfile::Both);
    CHECK(default_profile_for("thunderbird-bin") == SlotProfile::Both);
    CHECK(default_profile_for("pkcs11-tool") == SlotProfile::Both);
    CHECK(default_profile_for("") == SlotProfile::Both);
}

TEST_CASE("config: pReserved beats the environment, which beats the files", "[token][config]") {
    ConfigSources sources;
    sources.process_name = "firefox-esr";
    CHECK(resolve_config(sources).slots == SlotProfile::Auth);

    sources.system_file = "# system\nslots = sign\npss = auto\n";
    CHECK(resolve_config(sources).slots == SlotProfile::Sign);
    CHECK(resolve_config(sources).pss == PssMode::Auto);

    sources.user_file = "JPKI_PKCS11_SLOTS=both\n";
    CHECK(resolve_config(sources).slots == SlotProfile::Both);

    sources.environment["JPKI_PKCS11_SLOTS"] = "auth";
    sources.environment["JPKI_PKCS11_ALLOW_FINAL_TRY"] = "1";
    auto config = resolve_config(sources);
    CHECK(config.slots == SlotProfile::Auth);
    CHECK(config.allow_final_try);
    CHECK(config.slots_reason == "environment");

    sources.init_reserved = "slots=sign;always_auth=yes";
    config = resolve_config(sources);
    CHECK(config.slots == SlotProfile::Sign);
    CHECK(config.always_authenticate);
    CHECK(config.slots_reason == "C_Initialize pReserved");

    // The files' spelling `key = value` works in pReserved too (items are split at ';' and blanks).
    sources.init_reserved = "pss = off; slots =auth log= info";
    config = resolve_config(sources);
    CHECK(config.pss == PssMode::Off);
    CHECK(config.slots == SlotProfile::Auth);
    CHECK(config.log == jpki::token::LogLevel::Info);
}

TEST_CASE("config: pss is auto unless set (issue 12)", "[token][config]") {
    ConfigSources sources;
    CHECK(resolve_config(sources).pss == PssMode::Auto);
    sources.environment["JPKI_PKCS11_PSS"] = "on";
    CHECK(resolve_config(sources).pss == PssMode::On);
}

TEST_CASE("config: JPKI_PKCS11_SLOTS overrides ssh's default", "[token][config]") {
    ConfigSources sources;
    sources.process_name = "ssh-pkcs11-help";
    CHECK(resolve_config(sources).slots == SlotProfile::Auth);
    sources.environment["JPKI_PKCS11_SLOTS"] = "both";
    CHECK(resolve_config(sources).slots == SlotProfile::Both);
}

TEST_CASE("config: a typo is an error, never a silent default", "[token][config]") {
    ConfigSources sources;
    auto rv_of = [&] {
        try {
            (void)resolve_config(sources);
        } catch (const jpki::token::Error& error) {
            return error.rv();
        }
        return CKR_OK;
    };
    sources.environment["JPKI_PKCS11_SLOTS"] = "signature";
    CHECK(rv_of() == CKR_ARGUMENTS_BAD);
    sources.environment.clear();
    sources.user_file = "slot = auth\n";
    CHECK(rv_of() == CKR_ARGUMENTS_BAD);
    sources.user_file = "allow_final_try = maybe\n";
    CHECK(rv_of() == CKR_ARGUMENTS_BAD);
    sources.user_file = "just words\n";
    CHECK(rv_of() == CKR_ARGUMENTS_BAD);
}

TEST_CASE("config: the error names the item, its place and what is accepted", "[token][config]") {
    ConfigSources sources;
    sources.user_file_path = "/home/me/.config/jpki-pkcs11.conf";
    auto message_of = [&] {
        try {
            (void)resolve_config(sources);
        } catch (const jpki::token::Error& error) {
            return std::string(error.what());
        }
        return std::string("no error");
    };
    sources.user_file = "# mine\n\nslot = sign\n";
    CHECK(message_of() ==
          "/home/me/.config/jpki-pkcs11.conf line 3: unknown setting 'slot'; accepted: slots, allow_final_try, "
          "always_auth, pss, log (each also as JPKI_PKCS11_<KEY>)");
    sources.user_file = "pss = sometimes\n";
    CHECK(message_of() ==
          "/home/me/.config/jpki-pkcs11.conf line 1: bad value 'sometimes' for pss; accepted: off, on, auto");
    sources.user_file.clear();
    sources.environment["JPKI_PKCS11_ALLOW_FINAL_TRY"] = "maybe\n";
    CHECK(message_of() ==
          "environment variable JPKI_PKCS11_ALLOW_FINAL_TRY: bad value 'maybe?' for allow_final_try; accepted: "
          "1, yes, true, on, 0, no, false, off");
    sources.environment.clear();
    sources.init_reserved = "slots=auth just";
    CHECK(message_of() ==
          "C_Initialize pReserved (p11-kit x-init-reserved): 'just' is not key = value; accepted: key = value "
          "with key one of slots, allow_final_try, always_auth, pss, log (each also as JPKI_PKCS11_<KEY>)");
}

TEST_CASE("config: misspelt or lower-case variables, keys set twice are errors; a byte-order mark is not",
          "[token][config]") {
    const auto rv_of = [](const ConfigSources& sources) -> CK_RV {
        try {
            (void)resolve_config(sources);
            return CKR_OK;
        } catch (const jpki::token::Error& error) {
            return error.rv();
        }
    };
    ConfigSources misspelt;
    misspelt.environment["JPKI_PKCS11_SLOT"] = "sign";
    CHECK(rv_of(misspelt) == CKR_ARGUMENTS_BAD);
    ConfigSources lower;
    lower.environment["jpki_pkcs11_slots"] = "sign";
    CHECK(rv_of(lower) == CKR_ARGUMENTS_BAD);
    ConfigSources twice;
    twice.user_file = "slots = both\nslots = auth\n";
    CHECK(rv_of(twice) == CKR_ARGUMENTS_BAD);
    ConfigSources bom;
    bom.user_file = "\xEF\xBB\xBFslots = sign\n";
    REQUIRE(rv_of(bom) == CKR_OK);
    CHECK(resolve_config(bom).slots == SlotProfile::Sign);
}
