// CardCache: the per-user cache of card facts (src/cache/card_cache.hpp; issues 11 and 12):
// facts survive the object (a later process reads them), nothing personal shows, problems are
// told once and never thrown.
#include "cache/card_cache.hpp"

#include "crypto/context.hpp"

#include <catch2/catch.hpp>

#include <ostream>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

// Catch prints facts as short_ef_id/extended, e.g. "{no, yes}".
namespace jpki::cache {
inline std::ostream& operator<<(std::ostream& out, Fact fact) {
    return out << (fact == Fact::Yes ? "yes" : fact == Fact::No ? "no" : "unknown");
}
inline std::ostream& operator<<(std::ostream& out, const ReadForms& forms) {
    return out << '{' << forms.short_ef_id << ", " << forms.extended << '}';
}
}  // namespace jpki::cache

namespace {

namespace fs = std::filesystem;
using jpki::cache::CardCache;
using jpki::cache::Fact;
using jpki::cache::Key;
using jpki::cache::ReadForms;

constexpr std::string_view serial = "0123456789ABCDEF";
constexpr std::string_view reader = "Virtual PCD 00 00";
const std::vector<std::uint8_t> atr{0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14};

// A fresh folder of its own, removed afterwards.
class Scratch {
public:
    Scratch() {
        std::string pattern = (fs::temp_directory_path() / "jpki-test-cache.XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~Scratch() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    Scratch(Scratch&&) = delete;
    Scratch& operator=(Scratch&&) = delete;
    [[nodiscard]] const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

// Collects what the cache tells.
struct Warnings {
    std::vector<std::string> lines;
    CardCache::Warn sink() {
        return [this](const std::string& line) { lines.push_back(line); };
    }
};

std::vector<fs::path> files_in(const fs::path& folder) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(folder)) files.push_back(entry.path());
    return files;
}

std::string contents(const fs::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

unsigned mode_of(const fs::path& path) {
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    return info.st_mode & 07777U;
}

// Sets an environment variable for one test and puts the old value back.
class EnvVar {
public:
    EnvVar(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;  // NOLINT(concurrency-mt-unsafe)
        if (value != nullptr) {
            ::setenv(name, value, 1);  // NOLINT(concurrency-mt-unsafe)
        } else {
            ::unsetenv(name);  // NOLINT(concurrency-mt-unsafe)
        }
    }
    ~EnvVar() {
        if (old_) {
            ::setenv(name_, old_->c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
        } else {
            ::unsetenv(name_);  // NOLINT(concurrency-mt-unsafe)
        }
    }
    EnvVar(const EnvVar&) = delete;
    EnvVar& operator=(const EnvVar&) = delete;
    EnvVar(EnvVar&&) = delete;
    EnvVar& operator=(EnvVar&&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("CardCache: facts written by one object are read by the next", "[cache]") {
    jpki::crypto::Context crypto;
    const Scratch scratch;
    const fs::path folder = scratch.path() / "jpki-pkcs11";
    Warnings warnings;
    {
        CardCache cache(crypto, folder, warnings.sink());
        cache.set_pss(serial, Key::Auth, true);
        cache.set_pss(serial, Key::Sign, false);
        cache.set_read_forms(reader, atr, ReadForms{Fact::No, Fact::Yes});
    }
    const CardCache later(crypto, folder, warnings.sink());  // as a later process would
    CHECK(later.pss(serial, Key::Auth) == Fact::Yes);
    CHECK(later.pss(serial, Key::Sign) == Fact::No);
    CHECK(later.read_forms(reader, atr) == ReadForms{Fact::No, Fact::Yes});
    // Another card, another reader, another ATR: not these facts.
    CHECK(later.pss("FEDCBA9876543210", Key::Auth) == Fact::Unknown);
    CHECK(later.read_forms("Other Reader 00 00", atr) == ReadForms{});
    const std::vector<std::uint8_t> other_atr{0x3B, 0x80};
    CHECK(later.read_forms(reader, other_atr) == ReadForms{});
    CHECK(warnings.lines.empty());
}

TEST_CASE("CardCache: a fact never recorded is Unknown, and reading makes no folder", "[cache]") {
    jpki::crypto::Context crypto;
    const Scratch scratch;
    const fs::path folder = scratch.path() / "jpki-pkcs11";
    Warnings warnings;
    CardCache cache(crypto, folder, warnings.sink());
    CHECK(cache.pss(serial, Key::Auth) == Fact::Unknown);
    CHECK(cache.read_forms(reader, atr) == ReadForms{});
    CHECK_FALSE(fs::exists(folder));
    cache.set_pss(serial, Key::Auth, true);
    REQUIRE(fs::is_directory(folder));
    CHECK(cache.pss(serial, Key::Sign) == Fact::Unknown);  // the other key of the same card
    CHECK(cache.read_forms(reader, atr) == ReadForms{});

    // Without a folder (no XDG_CACHE_HOME, no HOME): knows nothing, keeps nothing, says nothing.
    CardCache nowhere(crypto, std::nullopt, warnings.sink());
    nowhere.set_pss(serial, Key::Auth, true);
    CHECK(nowhere.pss(serial, Key::Auth) == Fact::Unknown);
    CHECK(warnings.lines.empty());
}

TEST_CASE("CardCache: a corrupt record is Unknown where corrupt, told once, never thrown", "[cache]") {
    jpki::crypto::Context crypto;
    const Scratch scratch;
    const fs::path folder = scratch.path() / "jpki-pkcs11";
    Warnings warnings;
    {
        CardCache cache(crypto, folder, warnings.sink());
        CHECK(cache.set_pss(serial, Key::Auth, true));
        CHECK(cache.set_pss(serial, Key::Sign, true));
    }
    const auto files = files_in(folder);
    REQUIRE(files.size() == 1);
    const fs::path& record = files.front();
    const std::string good = contents(record);
    REQUIRE(good.find("pss.auth = yes") != std::string::npos);
    const std::string first_line = good.substr(0, good.find('\n') + 1);

    SECTION("garbage") {
        std::ofstream(record, std::ios::trunc) << "\x01\x02 not a record at all\n";
        const CardCache cache(crypto, folder, warnings.sink());
        CHECK(cache.pss(serial, Key::Auth) == Fact::Unknown);
        CHECK(cache.pss(serial, Key::Sign) == Fact::Unknown);
        CHECK(warnings.lines.size() == 1);
    }
    SECTION("an empty file") {
        std::ofstream(record, std::ios::trunc).flush();
        const CardCache cache(crypto, folder, warnings.sink());
        CHECK(cache.pss(serial, Key::Auth) == Fact::Unknown);
        CHECK(warnings.lines.size() == 1);
    }
    SECTION("an unknown key and a bad value: those facts only") {
        std::ofstream(record, std::ios::trunc) << first_line << "pss.auth = maybe\npss.colour = yes\npss.sign = yes\n";
        const CardCache cache(crypto, folder, warnings.sink());
        CHECK(cache.pss(serial, Key::Auth) == Fact::Unknown);
        CHECK(cache.pss(serial, Key::Sign) == Fact::Yes);
        CHECK(cache.pss(serial, Key::Auth) == Fact::Unknown);
        CHECK(warnings.lines.size() == 1);  // once per object, however often read
    }
    SECTION("a new fact replaces the corrupt record with a good one") {
        std::ofstream(record, std::ios::trunc) << "garbage\n";
        CardCache cache(crypto, folder, warnings.sink());
        cache.set_pss(serial, Key::Auth, false);
        const CardCache later(crypto, folder, Warnings{}.sink());
        CHECK(later.pss(serial, Key::Auth) == Fact::No);
        CHECK(contents(record).substr(0, first_line.size()) == first_line);
    }
    SECTION("a FIFO where the record should be: Unknown at once, never a program blocked on it") {
        fs::remove(record);
        REQUIRE(::mkfifo(record.c_str(), 0600) == 0);
        const CardCache cache(crypto, folder, warnings.sink());
        CHECK(cache.pss(serial, Key::Auth) == Fact::Unknown);  // without O_NONBLOCK: blocks for ever
        CHECK(warnings.lines.size() == 1);
    }
    SECTION("a directory where the record should be") {
        fs::remove(record);
        fs::create_directory(record);
        const CardCache cache(crypto, folder, warnings.sink());
        CHECK(cache.pss(serial, Key::Auth) == Fact::Unknown);
        CHECK(warnings.lines.size() == 1);
    }
    SECTION("a warning function that throws is contained") {
        std::ofstream(record, std::ios::trunc) << "garbage\n";
        const CardCache cache(crypto, folder, [](const std::string&) { throw std::runtime_error("log full"); });
        CHECK(cache.pss(serial, Key::Auth) == Fact::Unknown);
    }
}

TEST_CASE("CardCache: a folder that cannot be made is told once and keeps nothing", "[cache]") {
    jpki::crypto::Context crypto;
    const Scratch scratch;
    // A folder under a regular file: nobody can make it, root included (tests run as root in CI,
    // where a chmod 0500 folder would still be written).
    const fs::path file = scratch.path() / "file";
    std::ofstream(file) << "a file\n";
    const fs::path folder = file / "jpki-pkcs11";
    Warnings warnings;
    CardCache cache(crypto, folder, warnings.sink());
    CHECK_FALSE(cache.set_pss(serial, Key::Auth, true));  // not kept, and says so
    CHECK_NOTHROW(cache.set_read_forms(reader, atr, ReadForms{Fact::Yes, Fact::Yes}));
    CHECK(cache.pss(serial, Key::Auth) == Fact::Unknown);
    CHECK(cache.read_forms(reader, atr) == ReadForms{});
    REQUIRE(warnings.lines.size() == 1);
    CHECK(warnings.lines.front().find(folder.parent_path().string()) != std::string::npos);
}

TEST_CASE("CardCache: the user's folder follows XDG_CACHE_HOME, else HOME", "[cache]") {
    SECTION("XDG_CACHE_HOME absolute") {
        const EnvVar xdg("XDG_CACHE_HOME", "/var/tmp/xdg-cache");
        const EnvVar home("HOME", "/home/someone");
        CHECK(CardCache::user_folder() == fs::path("/var/tmp/xdg-cache/jpki-pkcs11"));
    }
    SECTION("XDG_CACHE_HOME relative is ignored: HOME") {
        const EnvVar xdg("XDG_CACHE_HOME", "relative/cache");
        const EnvVar home("HOME", "/home/someone");
        CHECK(CardCache::user_folder() == fs::path("/home/someone/.cache/jpki-pkcs11"));
    }
    SECTION("XDG_CACHE_HOME unset: HOME") {
        const EnvVar xdg("XDG_CACHE_HOME", nullptr);
        const EnvVar home("HOME", "/home/someone");
        CHECK(CardCache::user_folder() == fs::path("/home/someone/.cache/jpki-pkcs11"));
    }
    SECTION("neither: no cache") {
        const EnvVar xdg("XDG_CACHE_HOME", nullptr);
        const EnvVar home("HOME", nullptr);
        CHECK(CardCache::user_folder() == std::nullopt);
    }
}

TEST_CASE("CardCache: folder 0700, records 0600, whatever the umask; no temporary left", "[cache]") {
    jpki::crypto::Context crypto;
    const Scratch scratch;
    const fs::path parent = scratch.path() / "cache-home";  // missing too: made 0700 as well
    const fs::path folder = parent / "jpki-pkcs11";
    const ::mode_t old_umask = ::umask(0);
    {
        CardCache cache(crypto, folder, Warnings{}.sink());
        cache.set_pss(serial, Key::Auth, true);
        cache.set_read_forms(reader, atr, ReadForms{Fact::Yes, Fact::No});
    }
    ::umask(old_umask);
    CHECK(mode_of(parent) == 0700U);
    CHECK(mode_of(folder) == 0700U);
    const auto files = files_in(folder);
    CHECK(files.size() == 2);
    for (const auto& file : files) CHECK(mode_of(file) == 0600U);
}

TEST_CASE("CardCache: records are named and written without the serial or the reader name", "[cache]") {
    jpki::crypto::Context crypto;
    const Scratch scratch;
    const fs::path folder = scratch.path() / "jpki-pkcs11";
    CardCache cache(crypto, folder, Warnings{}.sink());
    cache.set_pss(serial, Key::Auth, true);
    cache.set_read_forms(reader, atr, ReadForms{Fact::Yes, Fact::Yes});
    const auto files = files_in(folder);
    REQUIRE(files.size() == 2);
    for (const auto& file : files) {
        const std::string name = file.filename().string();
        CHECK(name.size() == 64);  // hex SHA-256
        CHECK(name.find_first_not_of("0123456789abcdef") == std::string::npos);
        const std::string text = contents(file);
        CHECK(text.find(serial) == std::string::npos);
        CHECK(text.find("Virtual") == std::string::npos);
    }
}

TEST_CASE("CardCache: set_read_forms with an Unknown keeps the recorded fact", "[cache]") {
    jpki::crypto::Context crypto;
    const Scratch scratch;
    const fs::path folder = scratch.path() / "jpki-pkcs11";
    CardCache cache(crypto, folder, Warnings{}.sink());
    cache.set_read_forms(reader, atr, ReadForms{Fact::No, Fact::Yes});
    cache.set_read_forms(reader, atr, ReadForms{Fact::Unknown, Fact::No});
    CHECK(cache.read_forms(reader, atr) == ReadForms{Fact::No, Fact::No});
    cache.set_read_forms(reader, atr, ReadForms{Fact::Yes, Fact::Unknown});
    CHECK(cache.read_forms(reader, atr) == ReadForms{Fact::Yes, Fact::No});
    // And a PSS fact of one key keeps the other key's.
    cache.set_pss(serial, Key::Auth, true);
    cache.set_pss(serial, Key::Sign, false);
    CHECK(cache.pss(serial, Key::Auth) == Fact::Yes);
}
