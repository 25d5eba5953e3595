// The per-user cache of card facts (card_cache.hpp; docs/design.md §6 "Card cache").
// Record format, one small text file per record:
//   jpki-pkcs11 card cache 1
//   pss.auth = yes
// The first line names the format and its version; a record whose first line differs is not
// read (a later version may mean other things by the same keys). Each following line is
// `key = value` with a key of the record's fixed vocabulary and a value `yes` or `no`.
#include "cache/card_cache.hpp"

#include "crypto/digest.hpp"

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <initializer_list>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

namespace jpki::cache {

namespace {

constexpr std::string_view format_line = "jpki-pkcs11 card cache 1";
// Records are a few dozen bytes; anything much larger is not ours.
constexpr std::size_t max_record_size = 4096;

constexpr std::string_view key_pss_auth = "pss.auth";
constexpr std::string_view key_pss_sign = "pss.sign";
constexpr std::string_view key_read_short_ef_id = "read.short_ef_id";
constexpr std::string_view key_read_extended = "read.extended";

// The facts of one record, by key; a key absent = Unknown.
using Facts = std::map<std::string, Fact, std::less<>>;

std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) return {};
    const auto last = text.find_last_not_of(" \t\r");
    return text.substr(first, last - first + 1);
}

std::string system_reason(int error) { return std::strerror(error); }  // NOLINT(concurrency-mt-unsafe): one-line warnings only

// Closes a file descriptor on every path out.
class Descriptor {
public:
    explicit Descriptor(int fd) noexcept : fd_(fd) {}
    ~Descriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    Descriptor(Descriptor&&) = delete;
    Descriptor& operator=(Descriptor&&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }
    // Closes now, for the caller to see close()'s own error (a write may only fail there).
    int close() noexcept {
        const int rc = ::close(fd_);
        fd_ = -1;
        return rc;
    }

private:
    int fd_;
};

// Makes `folder` and any missing parents, each 0700 (XDG Base Directory spec: a base directory
// the program makes is 0700). An existing folder is left as it is.
// Returns an error text, empty on success.
std::string make_folder(const std::filesystem::path& folder) {
    std::filesystem::path partial;
    for (const auto& part : folder) {
        partial /= part;
        if (::mkdir(partial.c_str(), 0700) == 0) continue;
        const int error = errno;
        if (error != EEXIST) return partial.string() + ": " + system_reason(error);
    }
    struct stat info {};
    if (::stat(folder.c_str(), &info) != 0) return folder.string() + ": " + system_reason(errno);
    if (!S_ISDIR(info.st_mode)) return folder.string() + ": not a folder";
    return {};
}

}  // namespace

std::optional<std::filesystem::path> CardCache::user_folder() {
    // getenv races only with setenv, which neither the module nor jpki calls; both ask once per
    // card opened.
    const char* xdg = std::getenv("XDG_CACHE_HOME");  // NOLINT(concurrency-mt-unsafe)
    if (xdg != nullptr) {
        const std::filesystem::path base(xdg);
        // The spec: a relative path in XDG_CACHE_HOME is invalid and is ignored.
        if (base.is_absolute()) return base / "jpki-pkcs11";
    }
    const char* home = std::getenv("HOME");  // NOLINT(concurrency-mt-unsafe)
    if (home != nullptr) {
        const std::filesystem::path base(home);
        if (base.is_absolute()) return base / ".cache" / "jpki-pkcs11";
    }
    return std::nullopt;
}

CardCache::CardCache(crypto::Context& crypto, std::optional<std::filesystem::path> folder, Warn warn)
    : crypto_(crypto), folder_(std::move(folder)), warn_(std::move(warn)) {}

namespace {

// The record's file name: lower-case hex of SHA-256("jpki-pkcs11 <kind>\0" + identifier), so
// the folder shows neither a serial nor a reader name.
std::string record_name(crypto::Context& crypto, std::string_view kind, crypto::ByteView identifier) {
    // Built as a string, then copied once: g++ 12's -Wstringop-overflow misreads a chain of
    // vector inserts at -O1 (the TSan build) as an overflow.
    std::string text = "jpki-pkcs11 ";
    text.append(kind);
    text.push_back('\0');
    text.append(identifier.begin(), identifier.end());
    const Bytes input(text.begin(), text.end());
    const Bytes hash = crypto::digest(crypto, crypto::DigestAlgorithm::Sha256, input);
    static constexpr std::array<char, 16> digits{'0', '1', '2', '3', '4', '5', '6', '7',
                                                 '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
    std::string name;
    name.reserve(hash.size() * 2);
    for (const std::uint8_t byte : hash) {
        name.push_back(digits.at(byte >> 4U));
        name.push_back(digits.at(byte & 0x0FU));
    }
    return name;
}

Bytes as_bytes(std::string_view text) { return {text.begin(), text.end()}; }

Bytes reader_identifier(std::string_view reader, crypto::ByteView atr) {
    Bytes identifier = as_bytes(reader);
    identifier.push_back(0);
    identifier.insert(identifier.end(), atr.begin(), atr.end());
    return identifier;
}

std::string_view pss_key(Key key) { return key == Key::Auth ? key_pss_auth : key_pss_sign; }

std::string_view fact_text(Fact fact) { return fact == Fact::Yes ? "yes" : "no"; }

// What reading a record found: its facts, and a problem to tell (empty: none).
struct ReadResult {
    Facts facts;
    std::string problem;
};

// Reads the record `name`: its known keys with a yes/no value. A record that does not exist is no
// problem; an unreadable one, a wrong first line, an unknown key or a value other than yes/no is
// (that fact, or the whole record for a wrong first line, stays Unknown).
ReadResult read_record(const std::filesystem::path& folder, const std::string& name,
                       std::initializer_list<std::string_view> vocabulary) {
    ReadResult result;
    const std::filesystem::path path = folder / name;
    // O_NONBLOCK: a FIFO (or a device) in the folder must not block the program for ever; only a
    // regular file is read (a symbolic link is refused by O_NOFOLLOW).
    const Descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (fd.get() < 0) {
        const int error = errno;
        if (error != ENOENT) result.problem = path.string() + ": " + system_reason(error);
        return result;
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
        result.problem = path.string() + ": not a regular file; ignored";
        return result;
    }
    std::string text;
    std::array<char, 1024> buffer{};
    while (text.size() <= max_record_size) {
        const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            result.problem = path.string() + ": " + system_reason(errno);
            return result;
        }
        if (n == 0) break;
        text.append(buffer.data(), static_cast<std::size_t>(n));
    }
    if (text.size() > max_record_size) {
        result.problem = path.string() + ": not a card cache record (too long); ignored";
        return result;
    }
    std::string_view rest = text;
    bool first = true;
    while (!rest.empty()) {
        const auto end = rest.find('\n');
        const std::string_view line = trim(rest.substr(0, end));
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        if (first) {
            first = false;
            if (line != format_line) {
                result.problem = path.string() + ": not a card cache record of this version; ignored";
                return result;
            }
            continue;
        }
        if (line.empty()) continue;
        const auto equals = line.find('=');
        const std::string_view key = trim(line.substr(0, equals));
        const std::string_view value = equals == std::string_view::npos ? std::string_view{} : trim(line.substr(equals + 1));
        bool known = false;
        for (const std::string_view word : vocabulary) known = known || key == word;
        if (!known || (value != "yes" && value != "no") || equals == std::string_view::npos) {
            if (result.problem.empty()) result.problem = path.string() + ": line not understood, ignored: " + std::string(line.substr(0, 80));
            continue;
        }
        result.facts.insert_or_assign(std::string(key), value == "yes" ? Fact::Yes : Fact::No);
    }
    if (first) result.problem = path.string() + ": empty record; ignored";
    return result;
}

// Writes the record `name` whole: a temporary file in the same folder (0600), then rename(), so a
// reader sees the old record or the new one. Returns an error text, empty on success.
std::string write_record(const std::filesystem::path& folder, const std::string& name, const Facts& facts) {
    if (std::string problem = make_folder(folder); !problem.empty()) return problem;
    std::string text(format_line);
    text += '\n';
    for (const auto& [key, fact] : facts) {
        if (fact == Fact::Unknown) continue;
        text += key;
        text += " = ";
        text += fact_text(fact);
        text += '\n';
    }
    const std::filesystem::path target = folder / name;
    std::string temporary = (folder / ("." + name + ".XXXXXX")).string();
    // mkstemp makes the file 0600 and unique, so two processes never share a temporary file.
    Descriptor fd(::mkstemp(temporary.data()));
    if (fd.get() < 0) return folder.string() + ": " + system_reason(errno);
    const auto fail = [&](int error) {
        ::unlink(temporary.c_str());
        return target.string() + ": " + system_reason(error);
    };
    std::string_view left = text;
    while (!left.empty()) {
        const ssize_t n = ::write(fd.get(), left.data(), left.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail(errno);
        }
        left.remove_prefix(static_cast<std::size_t>(n));
    }
    if (fd.close() != 0) return fail(errno);
    if (::rename(temporary.c_str(), target.c_str()) != 0) return fail(errno);
    return {};
}

}  // namespace

void CardCache::tell(const std::string& problem) const noexcept {
    if (problem.empty() || warned_) return;
    warned_ = true;
    try {
        if (warn_) warn_("card cache: " + problem);
    } catch (...) {  // NOLINT(bugprone-empty-catch): a warning that cannot be told is dropped
    }
}

Fact CardCache::pss(std::string_view token_serial, Key key) const {
    if (!folder_) return Fact::Unknown;
    try {
        const std::string name = record_name(crypto_, "card", as_bytes(token_serial));
        const ReadResult record = read_record(*folder_, name, {key_pss_auth, key_pss_sign});
        tell(record.problem);
        const auto found = record.facts.find(pss_key(key));
        return found == record.facts.end() ? Fact::Unknown : found->second;
    } catch (const std::exception& e) {
        tell(e.what());
    } catch (...) {
        tell("unexpected error");
    }
    return Fact::Unknown;
}

bool CardCache::set_pss(std::string_view token_serial, Key key, bool proven) {
    if (!folder_) return false;
    try {
        const std::string name = record_name(crypto_, "card", as_bytes(token_serial));
        ReadResult record = read_record(*folder_, name, {key_pss_auth, key_pss_sign});
        tell(record.problem);  // then rewritten whole with what it held that made sense
        record.facts.insert_or_assign(std::string(pss_key(key)), proven ? Fact::Yes : Fact::No);
        const std::string problem = write_record(*folder_, name, record.facts);
        tell(problem);
        return problem.empty();
    } catch (const std::exception& e) {
        tell(e.what());
    } catch (...) {
        tell("unexpected error");
    }
    return false;
}

ReadForms CardCache::read_forms(std::string_view reader, crypto::ByteView atr) const {
    ReadForms forms;
    if (!folder_) return forms;
    try {
        const std::string name = record_name(crypto_, "reader", reader_identifier(reader, atr));
        const ReadResult record = read_record(*folder_, name, {key_read_short_ef_id, key_read_extended});
        tell(record.problem);
        if (const auto found = record.facts.find(key_read_short_ef_id); found != record.facts.end()) forms.short_ef_id = found->second;
        if (const auto found = record.facts.find(key_read_extended); found != record.facts.end()) forms.extended = found->second;
    } catch (const std::exception& e) {
        tell(e.what());
        return {};
    } catch (...) {
        tell("unexpected error");
        return {};
    }
    return forms;
}

namespace {

card::ReadPlan::Support support(Fact fact) noexcept {
    switch (fact) {
        case Fact::Yes: return card::ReadPlan::Support::Yes;
        case Fact::No: return card::ReadPlan::Support::No;
        case Fact::Unknown: break;
    }
    return card::ReadPlan::Support::Unknown;
}

Fact fact(card::ReadPlan::Support support) noexcept {
    switch (support) {
        case card::ReadPlan::Support::Yes: return Fact::Yes;
        case card::ReadPlan::Support::No: return Fact::No;
        case card::ReadPlan::Support::Unknown: break;
    }
    return Fact::Unknown;
}

}  // namespace

card::ReadPlan read_plan_from(const ReadForms& known) noexcept {
    return card::ReadPlan(support(known.short_ef_id), support(known.extended));
}

void CardCache::record_lessons(std::string_view reader, crypto::ByteView atr, const card::ReadPlan& plan,
                               ReadForms& recorded) {
    // What the record holds after set_read_forms: an Unknown leaves the recorded fact.
    ReadForms learnt = recorded;
    if (const Fact f = fact(plan.short_ef_id()); f != Fact::Unknown) learnt.short_ef_id = f;
    if (const Fact f = fact(plan.extended()); f != Fact::Unknown) learnt.extended = f;
    if (learnt == recorded) return;
    set_read_forms(reader, atr, learnt);  // never throws
    recorded = learnt;
}

void CardCache::set_read_forms(std::string_view reader, crypto::ByteView atr, const ReadForms& forms) {
    if (!folder_) return;
    if (forms.short_ef_id == Fact::Unknown && forms.extended == Fact::Unknown) return;
    try {
        const std::string name = record_name(crypto_, "reader", reader_identifier(reader, atr));
        ReadResult record = read_record(*folder_, name, {key_read_short_ef_id, key_read_extended});
        tell(record.problem);
        if (forms.short_ef_id != Fact::Unknown) record.facts.insert_or_assign(std::string(key_read_short_ef_id), forms.short_ef_id);
        if (forms.extended != Fact::Unknown) record.facts.insert_or_assign(std::string(key_read_extended), forms.extended);
        tell(write_record(*folder_, name, record.facts));
    } catch (const std::exception& e) {
        tell(e.what());
    } catch (...) {
        tell("unexpected error");
    }
}

}  // namespace jpki::cache
