// `jpki status` (issue 8): every reader, and for each My Number Card both certificates (issuer
// generation, serial, validity, days left, renewal window, expiry) and the exact tries left of
// both PINs, read without spending one; warnings with what to do. --sign asks for the signature
// password and adds the signing certificate and the holder's data from it. Per key, whether
// RSA-PSS (TLS 1.3) is proven, from the per-user card cache (`jpki pss probe`, issue 12): no APDU
// and no PIN for it.
#include "cache/card_cache.hpp"
#include "card/profile.hpp"
#include "cli/card_access.hpp"
#include "cli/certificates.hpp"
#include "cli/cli.hpp"
#include "cli/i18n.hpp"
#include "cli/terminal.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace jpki::cli {

namespace {

using card::PinRole;
using json = nlohmann::ordered_json;

struct CertificateReport {
    PinRole role = PinRole::Auth;
    bool present = false;  // the card carries it
    std::optional<crypto::Certificate> certificate;  // read (the signing one only with --sign)
    const CaFile* issuer = nullptr;
    Expiry expiry;
    std::optional<Holder> holder;  // signing certificate only; shown, never stored
};

struct PinReport {
    PinRole role = PinRole::Auth;
    std::optional<int> tries_left;  // nullopt: the card has no such PIN (no signing certificate)
};

struct Warning {
    std::string id;    // stable, for --json: "auth-pin-locked", "sign-certificate-renewal-open", ...
    std::string text;  // translated
};

struct CardReport {
    std::string label;
    CertificateReport auth;
    CertificateReport sign;
    PinReport auth_pin;
    PinReport sign_pin;
    std::vector<Warning> warnings;
    // Not warnings (exit code unchanged): facts worth a line, e.g. a certificate from an unknown
    // issuer (a test card?). Stable ids for --json, as for warnings.
    std::vector<Warning> notes;
    // RSA-PSS per key, as the card cache has it (cache/card_cache.hpp, keyed by the token serial).
    cache::Fact auth_pss = cache::Fact::Unknown;
    cache::Fact sign_pss = cache::Fact::Unknown;
    // --sign refused by the final-try guard (1 try left, or locked) or failed (wrong password,
    // card error): the rest is still shown, then this failure's message and exit code
    // (describe_failure), also in --json.
    std::exception_ptr sign_failure;
};

struct ReaderReport {
    std::string name;
    bool card_present = false;
    std::optional<CardReport> card;  // set when the card is a My Number Card
};

struct Options {
    bool json = false;
    bool sign = false;
};

const char* role_word(PinRole role) { return role == PinRole::Auth ? "auth" : "sign"; }

void add_certificate_warnings(const CertificateReport& report, std::vector<Warning>& warnings) {
    if (!report.certificate) return;
    const std::string name = certificate_name(report.role);
    const std::string prefix = std::string(role_word(report.role)) + "-certificate-";
    const Expiry& e = report.expiry;
    if (e.expired) {
        warnings.push_back({prefix + "expired", msg(tr("The {0} expired on {1}. Renew it at your city office "
                                                       "(bring the card and an identity document)."),
                                                    name, format_date(e.last_day))});
    } else if (e.renewal_open && e.days_left == 0) {
        warnings.push_back({prefix + "renewal-open",
                            msg(tr("The {0} expires today ({1}). You can renew it now at your city office (bring "
                                   "the card and an identity document)."),
                                name, format_date(e.last_day))});
    } else if (e.renewal_open) {
        warnings.push_back(
            {prefix + "renewal-open",
             msg(ntr("The {0} expires on {1} ({2} day left). You can renew it now at your city office "
                     "(bring the card and an identity document).",
                     "The {0} expires on {1} ({2} days left). You can renew it now at your city office "
                     "(bring the card and an identity document).",
                     static_cast<unsigned long>(e.days_left)),
                 name, format_date(e.last_day), e.days_left)});
    } else {
        return;
    }
    if (report.role == PinRole::Sign)
        warnings.push_back({"sign-certificate-ends-on-change",
                            tr("The signing certificate also ends when your name or address changes (moving, "
                               "marriage); the city office issues a new one then.")});
}

void add_pin_warnings(const PinReport& pin, std::vector<Warning>& warnings) {
    if (!pin.tries_left) return;
    const std::string prefix = std::string(role_word(pin.role)) + "-pin-";
    if (*pin.tries_left <= 0) {
        warnings.push_back({prefix + "locked", msg(tr("The {} is locked. Only your city office can unlock it: bring "
                                                      "the card and an identity document."),
                                                   pin_name(pin.role))});
    } else if (*pin.tries_left == 1) {
        warnings.push_back(
            {prefix + "one-try-left",
             msg(tr("The {0} has 1 try left: one more wrong entry locks it. Do not guess. If you are sure "
                    "of it, 'jpki pin verify {1}' is the deliberate way to enter it; if you have forgotten "
                    "it, your city office can reset it (bring the card and an identity document)."),
                 pin_name(pin.role), role_word(pin.role))});
    }
}

void read_certificate(OpenCard& card, CertificateReport& report, crypto::Context& context,
                      const std::vector<CaFile>& cas, std::chrono::system_clock::time_point now) {
    const card::ReadableFile& file = card.applet().profile().role(report.role).certificate;
    report.certificate.emplace(context, card.applet().read_certificate(file));
    report.issuer = find_issuer(cas, *report.certificate);
    report.expiry = expiry_of(*report.certificate, now);
    if (report.role == PinRole::Sign) report.holder = decode_holder(report.certificate->der());
}

// Everything status shows about one card. With --sign the signature password is asked for (the
// final-try guard first, so a card at its last try is refused before the question) and the
// OpenCard's destructor resets the card at the end of this function: it is not left logged in.
CardReport examine(std::unique_ptr<OpenCard> card, const Options& options, crypto::Context& context,
                   const std::vector<CaFile>& auth_cas, const std::vector<CaFile>& sign_cas) {
    const auto now = std::chrono::system_clock::now();
    CardReport report;
    report.label = card->info().label;
    report.auth.role = PinRole::Auth;
    report.sign.role = PinRole::Sign;
    report.auth_pin.role = PinRole::Auth;
    report.sign_pin.role = PinRole::Sign;
    report.auth.present = true;
    read_certificate(*card, report.auth, context, auth_cas, now);
    report.sign.present = card->applet().has_sign_certificate();
    report.auth_pin.tries_left = card->applet().tries_left(PinRole::Auth);
    // Without a signing certificate (under-15 and face-authentication cards, docs/card.md) the
    // signature password has no use, and such a card may have none: it is not read or warned about.
    if (report.sign.present) report.sign_pin.tries_left = card->applet().tries_left(PinRole::Sign);

    if (options.sign && report.sign.present) {
        const auto guard = final_try_guard(PinRole::Sign);
        try {
            guard(*report.sign_pin.tries_left);
            const SecureBytes pin = read_pin(PinRole::Sign, msg(tr("{}: "), pin_name(PinRole::Sign)));
            card->verify(PinRole::Sign, pin, guard);
            report.sign_pin.tries_left = card::pin_rules(PinRole::Sign).max_tries;  // a good VERIFY refills it
            read_certificate(*card, report.sign, context, sign_cas, now);
        } catch (...) {
            report.sign_failure = std::current_exception();
            // A wrong password changed the counter: read it again (spends nothing).
            try {
                report.sign_pin.tries_left = card->applet().tries_left(PinRole::Sign);
            } catch (...) {
                // The card is gone: keep what was read before.
            }
        }
    }
    for (const CertificateReport* c : {&report.auth, &report.sign})
        if (c->certificate && c->issuer == nullptr)
            report.notes.push_back(
                {std::string(role_word(c->role)) + "-certificate-unknown-issuer",
                 msg(tr("The {0} was not issued by any J-LIS CA certificate in {1}: perhaps a test card, or the "
                        "CA files are missing."),
                     certificate_name(c->role), data_paths().ca_dir.string())});

    add_pin_warnings(report.auth_pin, report.warnings);
    add_pin_warnings(report.sign_pin, report.warnings);
    add_certificate_warnings(report.auth, report.warnings);
    add_certificate_warnings(report.sign, report.warnings);
    return report;
}

// ---- human output ----

struct Line {
    std::string label;
    std::string value;
};

std::string tries_text(const PinReport& pin) {
    if (!pin.tries_left) return tr("none (this card has no signing certificate)");
    const int max = card::pin_rules(pin.role).max_tries;
    if (*pin.tries_left <= 0) return paint(Colour::Red, tr("locked (0 tries left)"));
    std::string text = msg(ntr("{0} try left (of {1})", "{0} tries left (of {1})", static_cast<unsigned long>(*pin.tries_left)),
                           *pin.tries_left, max);
    if (*pin.tries_left == 1) return paint(Colour::Red, text);
    if (*pin.tries_left < max) return paint(Colour::Yellow, text);
    return text;
}

// The RSA-PSS line of a key (issue 12): TLS 1.3 client logins need it.
Line pss_line(PinRole role, cache::Fact fact) {
    std::string value;
    switch (fact) {
    case cache::Fact::Yes: value = tr("proven"); break;
    case cache::Fact::No: value = tr("refused by this card"); break;
    case cache::Fact::Unknown:
        value = role == PinRole::Auth ? tr("not tested yet (run 'jpki pss probe')")
                                      : tr("not tested yet (run 'jpki pss probe --sign')");
        break;
    }
    return {tr("RSA-PSS (TLS 1.3)"), value};
}

std::vector<Line> certificate_lines(const CertificateReport& report, cache::Fact pss) {
    std::vector<Line> lines;
    if (!report.present) {
        lines.push_back({tr("On the card"), tr("no (cards issued to children under 15 have none)")});
        return lines;
    }
    if (!report.certificate) {
        lines.push_back({tr("On the card"), tr("yes (shown with --sign: reading it needs the signature password)")});
        lines.push_back(pss_line(report.role, pss));
        return lines;
    }
    const auto& c = *report.certificate;
    const Expiry& e = report.expiry;
    lines.push_back({tr("Subject"), c.subject_text()});
    lines.push_back({tr("Issuer"), issuer_text(report.issuer)});
    lines.push_back({tr("Serial number"), c.serial_hex()});
    lines.push_back({tr("Valid from"), format_date(japan_date(c.not_before()))});
    std::string until =
        e.expired           ? paint(Colour::Red, msg(tr("{} (expired)"), format_date(e.last_day)))
        : e.days_left == 0 ? msg(tr("{} (expires today)"), format_date(e.last_day))
                            : msg(ntr("{0} ({1} day left)", "{0} ({1} days left)", static_cast<unsigned long>(e.days_left)),
                        format_date(e.last_day), e.days_left);
    if (e.renewal_open) until = paint(Colour::Yellow, until);
    lines.push_back({tr("Valid until"), until});
    lines.push_back({tr("Renewal"), e.renewal_open || e.expired
                                        ? msg(tr("open since {}: renew at your city office"), format_date(e.renewal_from))
                                        : msg(tr("from {}"), format_date(e.renewal_from))});
    if (report.holder) {
        const Holder& h = *report.holder;
        lines.push_back({tr("Name"), h.name});
        lines.push_back({tr("Address"), h.address});
        lines.push_back({tr("Date of birth"), format_birth_date(h.birth_date)});
        lines.push_back({tr("Sex"), format_sex(h.sex)});
    }
    lines.push_back(pss_line(report.role, pss));
    return lines;
}

void print_card(const CardReport& report) {
    struct Section {
        std::string heading;
        std::vector<Line> lines;
    };
    std::vector<Section> sections;
    sections.push_back({tr("Authentication certificate"), certificate_lines(report.auth, report.auth_pss)});
    sections.push_back({tr("Signing certificate"), certificate_lines(report.sign, report.sign_pss)});
    sections.push_back({tr("PINs (tries left)"),
                        {{tr("Authentication PIN"), tries_text(report.auth_pin)},
                         {tr("Signature password"), tries_text(report.sign_pin)}}});
    std::size_t width = 0;
    for (const auto& s : sections)
        for (const auto& l : s.lines) width = std::max(width, display_width(l.label));
    std::printf("  %s\n", msg(tr("My Number Card ({})"), report.label).c_str());
    for (const auto& s : sections) {
        std::printf("  %s\n", paint(Colour::Bold, s.heading).c_str());
        for (const auto& l : s.lines) std::printf("    %s  %s\n", pad(l.label, width).c_str(), l.value.c_str());
    }
    if (!report.warnings.empty()) {
        std::printf("  %s\n", paint(Colour::Bold, tr("Attention")).c_str());
        for (const auto& w : report.warnings) std::printf("    %s %s\n", paint(Colour::Red, "!").c_str(), w.text.c_str());
    }
    if (!report.notes.empty()) {
        std::printf("  %s\n", paint(Colour::Bold, tr("Note")).c_str());
        for (const auto& n : report.notes) std::printf("    i %s\n", n.text.c_str());
    }
}

void print_human(const std::vector<ReaderReport>& readers) {
    bool first = true;
    for (const auto& r : readers) {
        if (!first) std::printf("\n");
        first = false;
        std::printf("%s\n", msg(tr("Reader: {}"), r.name).c_str());
        if (!r.card_present) {
            std::printf("  %s\n", tr("no card"));
        } else if (!r.card) {
            std::printf("  %s\n", tr("a card that is not a My Number Card"));
        } else {
            print_card(*r.card);
        }
    }
}

// ---- --json ----

json certificate_json(const CertificateReport& report) {
    json j;
    j["present"] = report.present;
    j["read"] = report.certificate.has_value();
    if (!report.certificate) return j;
    const auto& c = *report.certificate;
    const Expiry& e = report.expiry;
    j["subject"] = c.subject_text();
    j["issuer"] = report.issuer == nullptr
                      ? json(nullptr)
                      : json{{"generation", report.issuer->generation}, {"file", report.issuer->path.filename().string()}};
    j["serial"] = c.serial_hex();
    j["not_before"] = iso_date(japan_date(c.not_before()));
    j["not_after"] = iso_date(e.last_day);
    j["days_left"] = e.days_left;
    j["renewal_from"] = iso_date(e.renewal_from);
    j["renewal_open"] = e.renewal_open;
    j["expired"] = e.expired;
    if (report.holder)
        j["holder"] = {{"name", report.holder->name},
                       {"address", report.holder->address},
                       {"birth_date", iso_birth_date(report.holder->birth_date)},
                       {"sex", report.holder->sex == "1"   ? "male"
                               : report.holder->sex == "2" ? "female"
                               : report.holder->sex == "9" ? "not applicable"
                                                           : report.holder->sex}};
    return j;
}

// "proven", "refused" or "untested"; null for a key the card does not have.
json pss_json(const CertificateReport& report, cache::Fact fact) {
    if (!report.present) return nullptr;
    switch (fact) {
    case cache::Fact::Yes: return "proven";
    case cache::Fact::No: return "refused";
    case cache::Fact::Unknown: break;
    }
    return "untested";
}

json pin_json(const PinReport& pin) {
    if (!pin.tries_left) return nullptr;
    return {{"tries_left", *pin.tries_left}, {"max_tries", card::pin_rules(pin.role).max_tries}, {"locked", *pin.tries_left <= 0}};
}

// The exit code and message of a failure, as main() would show them.
json error_json(const std::exception_ptr& failure) {
    const auto [code, message] = describe_failure(failure);
    return {{"code", static_cast<int>(code)}, {"message", message}};
}

json to_json(const std::vector<ReaderReport>& readers, bool attention) {
    json j;
    j["readers"] = json::array();
    for (const auto& r : readers) {
        json reader{{"name", r.name}, {"card_present", r.card_present}, {"my_number_card", r.card.has_value()}};
        if (r.card) {
            const CardReport& c = *r.card;
            json warnings = json::array();
            for (const auto& w : c.warnings) warnings.push_back(w.id);
            json notes = json::array();
            for (const auto& n : c.notes) notes.push_back(n.id);
            reader["card"] = {{"label", c.label},
                              {"certificates", {{"auth", certificate_json(c.auth)}, {"sign", certificate_json(c.sign)}}},
                              {"pins", {{"auth", pin_json(c.auth_pin)}, {"sign", pin_json(c.sign_pin)}}},
                              {"pss", {{"auth", pss_json(c.auth, c.auth_pss)}, {"sign", pss_json(c.sign, c.sign_pss)}}},
                              {"warnings", warnings},
                              {"notes", notes}};
        }
        j["readers"].push_back(reader);
    }
    j["attention"] = attention;
    return j;
}

void print_help() {
    std::printf("%s\n", tr("Usage: jpki status [--reader NAME] [--json] [--sign]\n"
                           "Shows every reader and, for each My Number Card, both certificates (issuer, serial,\n"
                           "validity, days left, renewal window) and the tries left of both PINs. Reading the\n"
                           "tries left does not use a try.\n"
                           "\n"
                           "  --reader NAME  only this reader\n"
                           "  --sign         ask for the signature password, then also show the signing\n"
                           "                 certificate and your name, address, date of birth and sex from it\n"
                           "  --json         the same facts as JSON (for scripts)\n"
                           "\n"
                           "RSA-PSS (TLS 1.3) tells, per key, whether the card has proven it signs RSA-PSS, as\n"
                           "recorded by 'jpki pss probe' or the module: proven, refused by this card, or not\n"
                           "tested yet.\n"
                           "\n"
                           "Exit code 6 when something needs your attention (expiry, renewal, tries left),\n"
                           "3 when there is no pcscd, reader or card."));
}

// The CA files and the context their certificates live in: the reports point into them
// (CertificateReport::issuer), so they outlive the reports.
struct Trust {
    crypto::Context context;
    std::vector<CaFile> auth_cas;
    std::vector<CaFile> sign_cas;
};

// Everything up to the output; `readers` keeps what was learnt when it throws.
void collect(const Args& args, const Options& options, Trust& trust, std::vector<ReaderReport>& readers) {
    CardAccess access;
    trust.auth_cas = load_ca_files(trust.context, PinRole::Auth);
    trust.sign_cas = load_ca_files(trust.context, PinRole::Sign);
    crypto::Context& context = trust.context;
    const auto& auth_cas = trust.auth_cas;
    const auto& sign_cas = trust.sign_cas;
    // A cache that cannot be read reads as "not tested yet"; the reason goes to stderr, once.
    const cache::CardCache cache(context, cache::CardCache::user_folder(), [](const std::string& problem) {
        std::fflush(stdout);
        std::fprintf(stderr, "%s\n", msg(tr("Warning: the card cache could not be read: {}"), problem).c_str());
    });
    const auto examine_card = [&](std::unique_ptr<OpenCard> card) {
        CardReport report = examine(std::move(card), options, context, auth_cas, sign_cas);
        // The token serial names the card in the cache, as in the module.
        const std::string serial = report.auth.certificate->token_serial();
        report.auth_pss = cache.pss(serial, cache::Key::Auth);
        if (report.sign.present) report.sign_pss = cache.pss(serial, cache::Key::Sign);
        return report;
    };

    if (const auto name = args.value("reader")) {
        readers.push_back({*name, true, examine_card(access.open(name))});
        return;
    }
    const auto all = access.readers();
    if (all.empty()) (void)access.open(std::nullopt);  // throws: no reader, with the fix
    std::vector<std::pair<std::string, std::unique_ptr<OpenCard>>> cards;
    cards.reserve(all.size());
    for (const auto& r : all) cards.emplace_back(r.name, r.card_present ? access.try_open(r.name) : nullptr);
    const auto my_number_cards = std::count_if(cards.begin(), cards.end(), [](const auto& c) { return c.second != nullptr; });
    // Throws the reason (no card, not a My Number Card) or, for --sign, "choose one with --reader".
    if (my_number_cards == 0 || (options.sign && my_number_cards > 1)) {
        for (const auto& r : all) readers.push_back({r.name, r.card_present, std::nullopt});
        (void)access.open(std::nullopt);
    }
    for (std::size_t i = 0; i < all.size(); ++i) {
        ReaderReport report{all[i].name, all[i].card_present, std::nullopt};
        if (cards[i].second) report.card = examine_card(std::move(cards[i].second));
        readers.push_back(std::move(report));
    }
}

}  // namespace

int run_status(const std::vector<std::string>& words) {
    static constexpr std::array<OptionSpec, 4> spec{{{"reader", true}, {"json", false}, {"sign", false}, {"help", false}}};
    const Args args("jpki status", words, spec);
    if (args.flag("help")) {
        print_help();
        return 0;
    }
    args.expect_operands(0, 0);
    const Options options{args.flag("json"), args.flag("sign")};

    Trust trust;
    std::vector<ReaderReport> readers;
    try {
        collect(args, options, trust, readers);
    } catch (...) {
        // Issue 8: scripts always get JSON on stdout, the failure included; the exit code and the
        // message on stderr stay main()'s.
        if (!options.json) throw;
        json j = to_json(readers, false);
        j["error"] = error_json(std::current_exception());
        std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
        std::cout.flush();
        throw;
    }

    bool attention = false;
    for (const auto& r : readers)
        if (r.card && !r.card->warnings.empty()) attention = true;
    std::exception_ptr failure;
    for (const auto& r : readers)
        if (r.card && r.card->sign_failure && !failure) failure = r.card->sign_failure;
    if (options.json) {
        json j = to_json(readers, attention);
        if (failure) j["error"] = error_json(failure);
        std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    } else {
        print_human(readers);
    }
    std::cout.flush();
    std::fflush(stdout);
    if (failure) std::rethrow_exception(failure);  // main() prints it, with its exit code
    return static_cast<int>(attention ? ExitCode::Attention : ExitCode::Ok);
}

}  // namespace jpki::cli
