// The API tests' fixture: virtual readers with virtual My Number Cards installed as the module's
// transport, a deterministic configuration, C_Initialize on construction and C_Finalize on
// destruction (RAII), plus the small PKCS#11 and OpenSSL helpers every test file uses.
#pragma once

#include "jpki/pkcs11.hpp"

#include <jpki/vcard/card.hpp>
#include <jpki/vcard/config.hpp>
#include <jpki/vcard/virtual_readers.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace apitest {

using jpki::Bytes;
using jpki::vcard::Card;
using jpki::vcard::CardConfig;
using jpki::vcard::Pin;
using jpki::vcard::VirtualReaders;

// One reader: slots 0 (auth) and 1 (sign). Reader n: 2n and 2n+1.
inline constexpr CK_SLOT_ID auth_slot = 0;
inline constexpr CK_SLOT_ID sign_slot = 1;
inline constexpr const char* auth_pin = "1234";    // CardConfig defaults
inline constexpr const char* sign_pin = "ABC123";
inline constexpr CK_ULONG signature_size = 256;

// The hex CKA_IDs of docs/design.md §3.
inline constexpr std::uint8_t id_auth = 0x01, id_sign = 0x02, id_auth_ca = 0x03, id_sign_ca = 0x04;

// What the module asked of its transport's waits, over every Fixture of the process (the
// forwarding transport counts): reset() it before the part of a test it describes.
struct WaitRecord {
    std::atomic<long long> shortest_ms{std::numeric_limits<long long>::max()};
    std::atomic<int> waits{0};
    std::atomic<int> cancels{0};
    void reset() {
        shortest_ms = std::numeric_limits<long long>::max();
        waits = 0;
        cancels = 0;
    }
};
WaitRecord& wait_record();

// What a test wants before C_Initialize.
struct Setup {
    // One entry per reader: the card in it, or nullopt for an empty reader.
    std::vector<std::optional<CardConfig>> readers{CardConfig{}};
    // JPKI_PKCS11_* variables to set (all others are unset), e.g. {"JPKI_PKCS11_SLOTS", "auth"}.
    std::map<std::string, std::string> env{};
    // C_Initialize's pReserved string (p11-kit x-init-reserved); empty: C_Initialize(NULL).
    std::string reserved{};
    bool initialize = true;  // false: the test calls C_Initialize itself
    // The readers' names, one per entry of `readers`; empty: "Virtual PCD 00 00", "... 00 01"...
    std::vector<std::string> reader_names{};
};

// A Setup of one reader holding a card with the defaults changed by `change(CardConfig&)`.
template <typename Change>
Setup one_card(Change&& change) {
    CardConfig config;
    change(config);
    Setup setup;
    setup.readers = {config};
    return setup;
}

// A fresh directory under the temp dir, removed at the end.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// Sets environment variables for the life of the object and restores the old values after.
class ScopedEnv {
public:
    ScopedEnv() = default;
    ~ScopedEnv();
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;
    void set(const std::string& name, const std::string& value);
    void unset(const std::string& name);

private:
    void remember(const std::string& name);
    std::map<std::string, std::optional<std::string>> saved_;
};

class Fixture {
public:
    explicit Fixture(Setup setup = {});
    ~Fixture();
    Fixture(const Fixture&) = delete;
    Fixture& operator=(const Fixture&) = delete;

    // The function list from C_GetFunctionList, as applications call the module.
    CK_FUNCTION_LIST* p11 = nullptr;

    // C_Initialize as Setup asked (NULL, or args with CKF_OS_LOCKING_OK and pReserved).
    CK_RV initialize();

    // The virtual readers (the module reaches them through a forwarding transport).
    VirtualReaders& readers() { return *readers_; }
    [[nodiscard]] const std::string& reader(std::size_t index = 0) const { return reader_names_.at(index); }
    std::shared_ptr<Card> card(std::size_t reader = 0);
    // Inserts a new card (its trace goes to a new file, which trace() then reads).
    void insert(std::size_t reader, CardConfig config);
    void remove(std::size_t reader);
    void reset_by_other_program(std::size_t reader = 0);

    // The APDU lines of the current card's trace (events, "# ...", left out).
    [[nodiscard]] std::vector<std::string> apdus(std::size_t reader = 0) const;

    // PKCS#11 helpers; each REQUIREs success unless it returns the CK_RV.
    CK_SESSION_HANDLE open(CK_SLOT_ID slot, bool read_write = false);
    CK_RV try_login(CK_SESSION_HANDLE session, std::string_view pin, CK_USER_TYPE user = CKU_USER);
    void login(CK_SESSION_HANDLE session, std::string_view pin);
    std::vector<CK_OBJECT_HANDLE> find(CK_SESSION_HANDLE session, std::vector<CK_ATTRIBUTE> match);
    // The one object of that class and CKA_ID; REQUIREs exactly one.
    CK_OBJECT_HANDLE find_one(CK_SESSION_HANDLE session, CK_OBJECT_CLASS object_class, std::uint8_t id);
    std::optional<CK_OBJECT_HANDLE> find_optional(CK_SESSION_HANDLE session, CK_OBJECT_CLASS object_class,
                                                  std::uint8_t id);
    Bytes attribute(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type);
    CK_ULONG ulong_attribute(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type);
    bool bool_attribute(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type);
    CK_TOKEN_INFO token_info(CK_SLOT_ID slot);
    CK_SLOT_INFO slot_info(CK_SLOT_ID slot);
    std::vector<CK_SLOT_ID> slot_list(bool token_present);
    std::vector<CK_MECHANISM_TYPE> mechanism_list(CK_SLOT_ID slot);
    // Single-part signature (C_SignInit + C_Sign), REQUIREs success.
    Bytes sign(CK_SESSION_HANDLE session, CK_MECHANISM_TYPE mechanism, CK_OBJECT_HANDLE key,
               const Bytes& data);
    // Multi-part: C_SignInit, C_SignUpdate per part, C_SignFinal.
    Bytes sign_parts(CK_SESSION_HANDLE session, CK_MECHANISM_TYPE mechanism, CK_OBJECT_HANDLE key,
                     const std::vector<Bytes>& parts);
    // Drains C_WaitForSlotEvent(CKF_DONT_BLOCK) until CKR_NO_EVENT; returns the slots reported.
    std::vector<CK_SLOT_ID> drain_events();

private:
    Setup setup_;
    TempDir dir_;
    ScopedEnv env_;
    std::vector<std::string> reader_names_;
    std::shared_ptr<VirtualReaders> readers_;
    std::vector<std::string> trace_files_;  // per reader: the current card's trace
    int cards_made_ = 0;
    CK_C_INITIALIZE_ARGS args_{};
};

// Trace lines (`COMMANDHEX SW`): a VERIFY that carries a PIN (INS 20 with data), as opposed to
// the empty VERIFY that reads the counter.
bool is_verify_with_data(const std::string& line);
std::size_t count_verify_with_data(const std::vector<std::string>& lines);
// Any VERIFY or CHANGE REFERENCE DATA carrying a PIN.
std::size_t count_pin_commands(const std::vector<std::string>& lines);
// Trace lines whose command starts with `prefix` (hex, e.g. "802A04" for a PSS signature).
std::size_t count_prefix(const std::vector<std::string>& lines, std::string_view prefix);
// READ BINARYs the card answered with an error, i.e. a read form it refused: by short EF
// identifier or with an extended Le, ending in neither 9000 nor the answers of a file that is
// protected (6982) or absent (6A82).
std::size_t refused_reads(const std::vector<std::string>& lines);

// Space-padded PKCS#11 text fields, padding removed.
std::string text(const CK_UTF8CHAR* field, std::size_t size);
template <std::size_t N>
std::string text(const CK_UTF8CHAR (&field)[N]) {
    return text(field, N);
}

Bytes bytes_of(std::string_view text);
Bytes pki_file(const std::string& name);  // tests/pki/<name>

// What OpenSSL says about a DER certificate.
struct CertificateFacts {
    Bytes subject, issuer, serial_number;  // DER
    Bytes modulus, public_exponent;        // big-endian, no leading zeros (modulus 256 bytes)
    std::string serial_hex;                // uppercase
};
CertificateFacts certificate_facts(const Bytes& der);

// Verifies a signature with the certificate's public key, as OpenSSL does it independently of
// the module: CKM_RSA_PKCS recovers the signed bytes and compares them with `data`; the
// CKM_SHAx_RSA_PKCS ones hash `data` with the named digest.
bool openssl_verifies(const Bytes& certificate_der, CK_MECHANISM_TYPE mechanism, const Bytes& data,
                      const Bytes& signature);
// A DER DigestInfo for SHA-256 of `data` (what TLS 1.2 hands CKM_RSA_PKCS).
Bytes sha256_digest_info(const Bytes& data);

}  // namespace apitest
