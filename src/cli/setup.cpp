// `jpki setup PROGRAM [--undo] [--module PATH]` (issue 8): adds the module to (or removes it from)
// every NSS database the program uses for the current user, through NSS's own modutil, under one
// fixed name. Idempotent; refuses while the program runs (NSS databases must not change under a
// running program: it would not see the change, and may overwrite it); prints every change.
// --trust (issue 10) also imports the J-LIS signing CA certificates shipped with jpki, trusted for
// signatures only, so that the program shows signatures made with My Number Cards as trusted.
#include "cli/certificates.hpp"
#include "cli/cli.hpp"
#include "cli/i18n.hpp"
#include "cli/nss_tool.hpp"
#include "cli/programs.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#ifndef JPKI_INSTALLED_MODULE
#error "JPKI_INSTALLED_MODULE (p11-kit's p11_module_path/jpki-pkcs11.so) comes from src/cli/CMakeLists.txt"
#endif

namespace jpki::cli {

namespace fs = std::filesystem;

namespace {

void print_help() {
    std::printf("%s\n", tr("Usage: jpki setup firefox|thunderbird|chrome|libreoffice|all [--trust] [--undo] [--module PATH]\n"
                           "\n"
                           "Adds the module to every NSS database the program uses for you: each Firefox and\n"
                           "Thunderbird profile, Chrome/Chromium's ~/.pki/nssdb (created if missing), and LibreOffice's\n"
                           "certificate folder (or the profile it falls back to). Close the program first.\n"
                           "Running it again changes nothing.\n"
                           "\n"
                           "Options:\n"
                           "  --trust        also trust the J-LIS signing CA (for signatures only), so that\n"
                           "                 signatures made with My Number Cards show as trusted\n"
                           "  --undo         remove the module instead (with --trust: and that CA)\n"
                           "  --module PATH  the module file to add (default: the installed one)\n"
                           "\n"
                           "Exit codes: 0 done, 1 a database could not be changed, 8 refused (the program is\n"
                           "running, the module file is missing or is no module, or no database was found)."));
}

std::string fix_tool_missing(const std::string& tool) {
    return msg(tr("{} is not installed (NSS's tools change the databases).\n  Fix: sudo apt install libnss3-tools"), tool);
}

struct Outcome {
    Outcome() = default;
    Outcome(std::string text_, bool failed_ = false, std::string fix_ = {})
        : text(std::move(text_)), failed(failed_), fix(std::move(fix_)) {}
    std::string text;
    bool failed = false;
    std::string fix;  // printed under a failure
};

// Two clauses of one line ("module added; J-LIS signing CA trusted ..."): Japanese makes them two
// sentences rather than joining them with an ASCII semicolon (issue 10).
std::string clauses(const std::string& first, const std::string& second) {
    return msg(tr("{0}; {1}"), first, second);
}

Outcome failure_outcome(const FailureExplained& explained, const std::string& more = {}) {
    const std::string text = msg(tr("failed: {}"), explained.text);
    return {more.empty() ? text : clauses(text, more), true, explained.fix};
}

// The program other than those being set up that uses `db` too: LibreOffice falling back to
// Thunderbird's or Firefox's profile. --undo for LibreOffice alone leaves such a database as it is:
// removing the module there would take it from Thunderbird too, unasked (issue 10).
std::optional<Program> other_user(const NssDatabase& db, const std::vector<Program>& chosen) {
    for (const Program p : db.users)
        if (std::find(chosen.begin(), chosen.end(), p) == chosen.end()) return p;
    return std::nullopt;
}

std::string remove_command(const fs::path& dir, const std::string& name) {
    return "modutil -dbdir 'sql:" + dir.string() + "' -delete '" + name + "' -force";
}

// The same module: the same file, or a file of the same name elsewhere (a build tree, an older
// install): two modules of one card would show each token twice.
bool same_library(const std::string& library, const fs::path& module) {
    return same_file(library, module) || (!library.empty() && fs::path(library).filename() == module.filename());
}

Outcome add_to(const NssDatabase& db, const fs::path& module) {
    std::string created;
    if (!has_nss_database(db.dir)) {
        if (!db.created_on_demand) return {absence_reason(db), true};
        create_nss_database(db.dir);
        created = tr("database created, ");
    }
    const auto modules = list_modules(db.dir);
    const auto ours = std::find_if(modules.begin(), modules.end(), [](const auto& m) { return m.name == kNssModuleName; });
    if (ours != modules.end()) {
        if (same_file(ours->library, module) || ours->library == module.string()) return {created + tr("already set up")};
        // NSS holds one module per name, so the old one goes first; when the new file fails to load
        // the old registration comes back (a failed re-setup must not leave the holder without one).
        const std::string was = ours->library;
        delete_module(db.dir, kNssModuleName);
        try {
            add_module(db.dir, kNssModuleName, module);
        } catch (const ToolFailed& failure) {
            try {
                add_module(db.dir, kNssModuleName, was);
            } catch (const ToolFailed&) {
                return failure_outcome(explain_failure(failure, db.dir), msg(tr("the module file registered before ({}) could not be registered again"), was));
            }
            return failure_outcome(explain_failure(failure, db.dir), msg(tr("the module file registered before ({}) is kept"), was));
        }
        return {created + msg(tr("module file changed (was {})"), was)};
    }
    const auto other = std::find_if(modules.begin(), modules.end(), [&](const auto& m) { return same_library(m.library, module); });
    if (other != modules.end())
        return {created + msg(tr("the module is already loaded under another name, '{0}'; nothing added (to use the usual name: {1}, then run this again)"),
                              other->name, remove_command(db.dir, other->name))};
    add_module(db.dir, kNssModuleName, module);
    return {created + tr("module added")};
}

Outcome remove_from(const NssDatabase& db, const fs::path& module) {
    if (!has_nss_database(db.dir)) return {tr("no certificate database: nothing to remove")};
    const auto modules = list_modules(db.dir);
    const bool ours = std::any_of(modules.begin(), modules.end(), [](const auto& m) { return m.name == kNssModuleName; });
    std::string text;
    if (ours) {
        delete_module(db.dir, kNssModuleName);
        text = tr("module removed");
    } else {
        text = tr("not set up: nothing to remove");
    }
    for (const auto& m : modules)
        if (m.name != kNssModuleName && same_library(m.library, module))
            text += "\n  " + msg(tr("The module is also loaded as '{0}' (not added by jpki setup). To remove it: {1}"), m.name,
                                remove_command(db.dir, m.name));
    return {text};
}

// NSS trust flags SSL,S/MIME,object signing (certutil -t). Signatures on mail, PDFs and ODF
// documents are checked for NSS's e-mail signer usage (Thunderbird, poppler, LibreOffice among
// its usages), so the CA is a trusted issuer "C" there only: the J-LIS signing CA issues no
// server certificates, and trusting it to vouch for signed code would be trust nobody asked for.
constexpr const char* kSigningCaTrust = ",C,";

// Every certificate jpki setup imports is named "J-LIS signing CA <generation> (jpki setup)": the
// name is the marker --undo --trust goes by, so that it removes the ones imported from another CA
// folder (an earlier JPKI_CA_DIR, an older jpki's data) too (issue 10).
constexpr std::string_view kCaNicknameStart = "J-LIS signing CA ";
constexpr std::string_view kCaNicknameEnd = " (jpki setup)";

std::string ca_nickname(const CaFile& ca) {
    return std::string(kCaNicknameStart) + ca.generation + std::string(kCaNicknameEnd);
}

// The generation in the nickname of a certificate jpki setup imported; nullopt for any other.
std::optional<std::string> imported_generation(const std::string& nickname) {
    if (nickname.size() <= kCaNicknameStart.size() + kCaNicknameEnd.size() || !nickname.starts_with(kCaNicknameStart) ||
        !nickname.ends_with(kCaNicknameEnd))
        return std::nullopt;
    return nickname.substr(kCaNicknameStart.size(), nickname.size() - kCaNicknameStart.size() - kCaNicknameEnd.size());
}

// Why the file `ca` must not be trusted as a J-LIS signing CA (translated), or "" when it may:
// it must be a CA certificate (basicConstraints cA, keyUsage keyCertSign), and not of J-LIS's
// authentication hierarchy (its OU, docs/card.md "Certificates"): the authentication CA vouches
// for login certificates, and trusting it for signatures would make them look like signing ones.
std::string signing_ca_problem(const CaFile& ca) {
    if (!ca.certificate.is_issuing_ca())
        return tr("it is not a CA certificate (it needs basicConstraints CA:TRUE and keyUsage keyCertSign)");
    const auto units = ca.certificate.subject_organizational_units();
    if (std::find(units.begin(), units.end(), "JPKI for user authentication") != units.end())
        return tr("it is the J-LIS authentication CA (OU=JPKI for user authentication), not the signing CA");
    return {};
}

std::string generations(const std::vector<std::string>& list) {
    std::string text;
    for (const auto& g : list) text += (text.empty() ? "" : ", ") + g;
    return text;
}

std::string trust_in(const NssDatabase& db, const std::vector<CaFile>& cas) {
    const auto present = list_certificates(db.dir);
    std::vector<std::string> added;
    std::vector<std::string> kept;
    for (const auto& ca : cas) {
        const std::string nickname = ca_nickname(ca);
        const bool trusted = std::any_of(present.begin(), present.end(), [&](const auto& c) {
            return c.nickname == nickname && c.trust == kSigningCaTrust;
        });
        if (trusted) {
            kept.push_back(ca.generation);
            continue;
        }
        add_certificate(db.dir, nickname, kSigningCaTrust, ca.path);
        added.push_back(ca.generation);
    }
    if (added.empty()) return msg(tr("J-LIS signing CA already trusted ({})"), generations(kept));
    return msg(tr("J-LIS signing CA trusted for signatures ({})"), generations(added));
}

std::string untrust_in(const NssDatabase& db) {
    std::vector<std::string> removed;
    // NSS files certificates of one subject under one nickname and lists a nickname once per
    // certificate (J-LIS generations share a DN): certutil -D removes one certificate a time, so
    // list again until none of ours is left. Bounded, should certutil -D ever leave one in place.
    for (int round = 0; round < 32; ++round) {
        std::vector<std::string> ours;
        for (const auto& certificate : list_certificates(db.dir))
            if (const auto generation = imported_generation(certificate.nickname)) {
                ours.push_back(certificate.nickname);
                if (std::find(removed.begin(), removed.end(), *generation) == removed.end()) removed.push_back(*generation);
            }
        if (ours.empty()) break;
        for (const auto& nickname : ours) delete_certificate(db.dir, nickname);
    }
    std::sort(removed.begin(), removed.end());
    if (removed.empty()) return tr("J-LIS signing CA not trusted by jpki setup: nothing to remove");
    return msg(tr("J-LIS signing CA no longer trusted ({})"), generations(removed));
}

}  // namespace

int run_setup(const std::vector<std::string>& words) {
    static constexpr std::array<OptionSpec, 4> spec = {{{"undo"}, {"trust"}, {"module", true}, {"help"}}};
    const Args args("jpki setup", words, spec);
    if (args.flag("help")) {
        print_help();
        return 0;
    }
    args.expect_operands(1, 1);
    const std::string& word = args.operands().front();
    std::vector<Program> programs;
    for (const Program p : kAllPrograms)
        if (word == "all" || word == program_word(p)) programs.push_back(p);
    if (programs.empty())
        args.usage_error(msg(tr("unknown program '{}' (one of: firefox, thunderbird, chrome, libreoffice, all)"), word));
    const bool undo = args.flag("undo");
    const bool trust = args.flag("trust");
    crypto::Context context;  // outlives signing_cas' certificates
    std::vector<CaFile> signing_cas;
    // --undo --trust goes by the nickname, whatever the CA folder holds now: no file is needed.
    if (trust && !undo) {
        signing_cas = load_ca_files(context, card::PinRole::Sign);
        if (signing_cas.empty())
            throw CliError(ExitCode::Refused, msg(tr("No J-LIS signing CA certificates (sign_ca_*.pem) in {}; nothing was changed."),
                                                  data_paths().ca_dir.string()));
        for (const auto& ca : signing_cas)
            if (const std::string problem = signing_ca_problem(ca); !problem.empty())
                throw CliError(ExitCode::Refused, msg(tr("{0} cannot be trusted as a J-LIS signing CA: {1}. Nothing was changed.\n"
                                                         "  Fix: remove it from {2}, or set JPKI_CA_DIR to a folder of J-LIS signing "
                                                         "CA certificates only."),
                                                      ca.path.string(), problem, ca.path.parent_path().string()));
    }

    fs::path module = args.value("module").value_or(JPKI_INSTALLED_MODULE);
    std::error_code error;
    if (!undo && !fs::exists(module, error)) {
        throw CliError(ExitCode::Refused,
                       args.value("module")
                           ? msg(tr("The module file {} does not exist.\n  Fix: build it (cmake --build build) or give its path with --module PATH."),
                                 module.string())
                           : msg(tr("The module is not installed ({} does not exist).\n  Fix: install the jpki-pkcs11 package "
                                    "(or run 'sudo cmake --install build' in the source tree), or give its path with --module PATH."),
                                 module.string()));
    }
    if (!undo)
        if (const std::string problem = module_file_problem(module); !problem.empty())
            throw CliError(ExitCode::Refused, msg(tr("{0} is not a PKCS#11 module ({1}); nothing was changed.\n  Fix: give the path of "
                                                     "jpki-pkcs11.so with --module PATH."),
                                                  module.string(), problem));
    if (fs::path absolute = fs::absolute(module, error); !error) module = absolute.lexically_normal();

    // Every database first, so that nothing changes when one of its programs runs.
    std::vector<NssDatabase> databases;
    std::vector<std::string> notes;
    for (const Program p : programs) {
        auto found = find_databases(p, notes);
        databases.insert(databases.end(), found.begin(), found.end());
    }
    if (databases.empty()) {
        std::string text;
        for (const auto& note : notes) text += (text.empty() ? "" : "\n") + note;
        throw CliError(ExitCode::Refused, text);
    }
    std::set<Program> users;
    for (const auto& db : databases) users.insert(db.users.begin(), db.users.end());
    std::string running;
    for (const Program p : users) {
        const auto evidence = running_evidence(p, databases);
        if (evidence.empty()) continue;
        std::string list;
        for (const auto& e : evidence) list += (list.empty() ? "" : ", ") + e;
        running += "\n  " + msg(tr("{0} is running: {1}"), program_name(p), list);
    }
    if (!running.empty())
        throw CliError(ExitCode::Refused,
                       msg(tr("Close these programs first (their NSS databases must not change while they run); nothing was changed:{}"),
                           running));

    for (const auto& note : notes) std::printf("%s\n", note.c_str());
    bool failed = false;
    std::map<std::string, std::string> done;  // a database used by two programs (LibreOffice's fallback) changes once
    for (const auto& db : databases) {
        const std::string key = db.dir.lexically_normal().string();
        Outcome outcome;
        if (const auto seen = done.find(key); seen != done.end()) {
            outcome.text = seen->second;
        } else if (const auto other = other_user(db, programs); undo && other) {
            outcome.text = msg(tr("nothing removed: {0} uses this profile too. To undo the set-up for both programs: "
                                  "jpki setup {1} --undo{2}"),
                               program_name(*other), program_word(*other), trust ? " --trust" : "");
        } else {
            try {
                outcome = undo ? remove_from(db, module) : add_to(db, module);
                if (trust && !outcome.failed && has_nss_database(db.dir))
                    outcome.text = clauses(outcome.text, undo ? untrust_in(db) : trust_in(db, signing_cas));
            } catch (const ToolMissing& missing) {
                throw CliError(ExitCode::Failure, fix_tool_missing(missing.what()));
            } catch (const ToolFailed& failure) {
                outcome = failure_outcome(explain_failure(failure, db.dir));
            } catch (const fs::filesystem_error& failure) {
                outcome = failure_outcome(explain_failure(failure));
            }
            if (!outcome.fix.empty()) outcome.text += "\n  " + msg(tr("Fix: {}"), outcome.fix);
            done.emplace(key, outcome.text);
        }
        failed = failed || outcome.failed;
        std::printf("%s: %s\n", db.description.c_str(), outcome.text.c_str());
    }
    return static_cast<int>(failed ? ExitCode::Failure : ExitCode::Ok);
}

}  // namespace jpki::cli
