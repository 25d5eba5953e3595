// C_Initialize's arguments from a hostile or careless host (issue 7 items 4 and 7): a pReserved
// that is not a string must not crash the process, and a bad configuration item must be named
// in one log line at the default level.
#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

using namespace apitest;

namespace {

Setup uninitialised() {
    Setup setup;
    setup.initialize = false;
    return setup;
}

CK_RV initialize_with_reserved(Fixture& f, void* reserved) {
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    args.pReserved = reserved;
    return f.p11->C_Initialize(&args);
}

bool initialised(Fixture& f) {
    CK_INFO info;
    return f.p11->C_GetInfo(&info) == CKR_OK;
}

// Two pages: the first readable and writable, the second PROT_NONE, so that reading past the
// end of the first one would fault.
class GuardedPage {
public:
    GuardedPage() : size_(static_cast<std::size_t>(sysconf(_SC_PAGESIZE))) {
        memory_ = mmap(nullptr, 2 * size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        REQUIRE(memory_ != MAP_FAILED);
        REQUIRE(mprotect(static_cast<char*>(memory_) + size_, size_, PROT_NONE) == 0);
    }
    ~GuardedPage() { munmap(memory_, 2 * size_); }
    GuardedPage(const GuardedPage&) = delete;
    GuardedPage& operator=(const GuardedPage&) = delete;
    // The last `bytes` bytes before the guard page.
    char* tail(std::size_t bytes) { return static_cast<char*>(memory_) + size_ - bytes; }

private:
    std::size_t size_;
    void* memory_;
};

// What the code under test writes to fd 2, for the life of the object.
class StderrCapture {
public:
    StderrCapture() : path_(dir_.path() / "stderr") {
        std::fflush(stderr);
        saved_ = dup(2);
        const int file = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        REQUIRE(file >= 0);
        REQUIRE(dup2(file, 2) == 2);
        close(file);
    }
    ~StderrCapture() { restore(); }
    StderrCapture(const StderrCapture&) = delete;
    StderrCapture& operator=(const StderrCapture&) = delete;

    // Stops capturing and returns the lines written.
    std::vector<std::string> lines() {
        restore();
        std::ifstream in(path_);
        std::vector<std::string> out;
        for (std::string line; std::getline(in, line);) out.push_back(line);
        return out;
    }

private:
    void restore() {
        if (saved_ < 0) return;
        std::fflush(stderr);
        dup2(saved_, 2);
        close(saved_);
        saved_ = -1;
    }
    TempDir dir_;
    std::filesystem::path path_;
    int saved_ = -1;
};

}  // namespace

TEST_CASE("C_Initialize: a pReserved that is not a printable string is CKR_ARGUMENTS_BAD, never a crash",
          "[general][init-reserved]") {
    Fixture f(uninitialised());
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));

    SECTION("(void*)1") { CHECK(initialize_with_reserved(f, reinterpret_cast<void*>(1)) == CKR_ARGUMENTS_BAD); }
    SECTION("(void*)-1") {
        // NOLINTNEXTLINE(performance-no-int-to-ptr): the bad pointer is the point of the test.
        CHECK(initialize_with_reserved(f, reinterpret_cast<void*>(~std::uintptr_t{0})) == CKR_ARGUMENTS_BAD);
    }
    SECTION("a page that was unmapped") {
        void* gone = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        REQUIRE(gone != MAP_FAILED);
        std::memcpy(gone, "slots=sign", 11);
        REQUIRE(munmap(gone, page) == 0);
        CHECK(initialize_with_reserved(f, gone) == CKR_ARGUMENTS_BAD);
    }
    SECTION("text without a NUL before a PROT_NONE page") {
        GuardedPage memory;
        std::memcpy(memory.tail(10), "slots=sign", 10);  // no terminator
        CHECK(initialize_with_reserved(f, memory.tail(10)) == CKR_ARGUMENTS_BAD);
    }
    SECTION("binary data") {
        char garbage[] = {'s', 'l', 'o', 't', 's', '=', '\x01', '\xff', '\x80', '\0'};
        CHECK(initialize_with_reserved(f, garbage) == CKR_ARGUMENTS_BAD);
    }
    SECTION("printable text with no NUL in the first 4096 bytes") {
        std::string text(4097, ' ');
        CHECK(initialize_with_reserved(f, text.data()) == CKR_ARGUMENTS_BAD);
    }
    CHECK_FALSE(initialised(f));
}

TEST_CASE("C_Initialize: a pReserved string is still read, up to the last byte of its page",
          "[general][init-reserved]") {
    Fixture f(uninitialised());
    SECTION("ordinary memory") {
        std::string text = "slots=sign";
        REQUIRE(initialize_with_reserved(f, text.data()) == CKR_OK);
    }
    SECTION("ending right before a PROT_NONE page") {
        GuardedPage memory;
        std::memcpy(memory.tail(11), "slots=sign", 11);  // with its NUL as the page's last byte
        REQUIRE(initialize_with_reserved(f, memory.tail(11)) == CKR_OK);
    }
    SECTION("4095 characters and the NUL") {
        std::string text = "slots=sign" + std::string(4085, ' ');
        REQUIRE(text.size() == 4095);
        REQUIRE(initialize_with_reserved(f, text.data()) == CKR_OK);
    }
    CHECK(f.slot_list(true) == std::vector<CK_SLOT_ID>{sign_slot});
}

TEST_CASE("a bad configuration item is named in one error line at the default level", "[general][config-log]") {
    Fixture f(uninitialised());
    std::string expected_place;
    std::string expected_item;
    std::string expected_accepted;
    CK_RV rv = CKR_OK;
    std::vector<std::string> lines;

    SECTION("unknown key in the user's file") {
        const char* home = std::getenv("XDG_CONFIG_HOME");  // the fixture's empty directory
        REQUIRE(home != nullptr);
        const std::string path = std::string(home) + "/jpki-pkcs11.conf";
        std::ofstream(path) << "# mine\nslot = sign\n";
        StderrCapture capture;
        rv = f.p11->C_Initialize(nullptr);
        lines = capture.lines();
        expected_place = path + " line 2";
        expected_item = "unknown setting 'slot'";
        expected_accepted = "slots, allow_final_try, always_auth, pss, log";
    }
    SECTION("bad value in the environment") {
        ScopedEnv env;
        env.set("JPKI_PKCS11_SLOTS", "neither");
        StderrCapture capture;
        rv = f.p11->C_Initialize(nullptr);
        lines = capture.lines();
        expected_place = "environment variable JPKI_PKCS11_SLOTS";
        expected_item = "bad value 'neither' for slots";
        expected_accepted = "auth, sign, both";
    }
    SECTION("unknown key in pReserved") {
        std::string reserved = "log=error;slot=auth";
        StderrCapture capture;
        rv = initialize_with_reserved(f, reserved.data());
        lines = capture.lines();
        expected_place = "C_Initialize pReserved";
        expected_item = "unknown setting 'slot'";
        expected_accepted = "slots, allow_final_try";
    }
    CHECK(rv == CKR_ARGUMENTS_BAD);
    CHECK_FALSE(initialised(f));
    REQUIRE(lines.size() == 1);
    const std::string& line = lines[0];
    INFO(line);
    CHECK(line.find(" error: ") != std::string::npos);
    CHECK(line.find("C_Initialize fails with CKR_ARGUMENTS_BAD") != std::string::npos);
    CHECK(line.find(expected_place) != std::string::npos);
    CHECK(line.find(expected_item) != std::string::npos);
    CHECK(line.find("accepted: " + expected_accepted) != std::string::npos);
}

TEST_CASE("a good configuration logs nothing at the default level", "[general][config-log]") {
    Fixture f(uninitialised());
    StderrCapture capture;
    REQUIRE(f.p11->C_Initialize(nullptr) == CKR_OK);
    CHECK(capture.lines().empty());
}
