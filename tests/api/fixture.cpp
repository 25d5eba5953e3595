#include "fixture.hpp"

#include "api/instance.hpp"

#include <catch2/catch.hpp>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace apitest {
namespace {

// The module owns its transport; the test keeps the VirtualReaders (to insert, remove, reset)
// and hands the module this forwarder.
class ForwardingTransport final : public jpki::transport::Transport {
public:
    explicit ForwardingTransport(std::shared_ptr<VirtualReaders> target) : target_(std::move(target)) {}
    std::vector<jpki::transport::ReaderStatus> readers() override { return target_->readers(); }
    std::unique_ptr<jpki::transport::Connection> connect(const std::string& reader) override {
        return target_->connect(reader);
    }
    bool wait_for_change(std::chrono::milliseconds timeout) override {
        WaitRecord& record = wait_record();
        ++record.waits;
        long long shortest = record.shortest_ms.load();
        while (timeout.count() < shortest && !record.shortest_ms.compare_exchange_weak(shortest, timeout.count())) {
        }
        return target_->wait_for_change(timeout);
    }
    void cancel_wait() override {
        ++wait_record().cancels;
        target_->cancel_wait();
    }

private:
    std::shared_ptr<VirtualReaders> target_;
};

// Every setting the module reads from the environment (docs/design.md §3 "Configuration").
constexpr const char* kModuleVariables[] = {"JPKI_PKCS11_SLOTS", "JPKI_PKCS11_ALLOW_FINAL_TRY",
                                            "JPKI_PKCS11_ALWAYS_AUTH", "JPKI_PKCS11_PSS", "JPKI_PKCS11_LOG"};

std::string reader_name(std::size_t index) {
    char name[64];
    std::snprintf(name, sizeof name, "Virtual PCD 00 %02zu", index);
    return name;
}

template <typename T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;

X509Ptr parse_certificate(const Bytes& der) {
    const unsigned char* p = der.data();
    X509Ptr certificate(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!certificate) throw std::runtime_error("OpenSSL cannot parse the certificate");
    return certificate;
}

template <typename T, typename Encode>
Bytes der_of(const T* value, Encode encode) {
    unsigned char* out = nullptr;
    const int length = encode(value, &out);
    if (length <= 0) throw std::runtime_error("DER encoding failed");
    Bytes result(out, out + length);
    OPENSSL_free(out);
    return result;
}

Bytes bn_bytes(const BIGNUM* bn) {
    Bytes out(static_cast<std::size_t>(BN_num_bytes(bn)));
    BN_bn2bin(bn, out.data());
    return out;
}

const EVP_MD* digest_for(CK_MECHANISM_TYPE mechanism) {
    switch (mechanism) {
        case CKM_SHA1_RSA_PKCS: return EVP_sha1();
        case CKM_SHA224_RSA_PKCS: return EVP_sha224();
        case CKM_SHA256_RSA_PKCS: return EVP_sha256();
        case CKM_SHA384_RSA_PKCS: return EVP_sha384();
        case CKM_SHA512_RSA_PKCS: return EVP_sha512();
        default: return nullptr;
    }
}

}  // namespace

WaitRecord& wait_record() {
    static WaitRecord record;
    return record;
}

// ---- TempDir, ScopedEnv -------------------------------------------------------------------

TempDir::TempDir() {
    static std::atomic<int> counter{0};
    const char* base = std::getenv("TMPDIR");
    path_ = std::filesystem::path(base != nullptr && *base != '\0' ? base : "/tmp") /
            ("jpki-api-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

void ScopedEnv::remember(const std::string& name) {
    if (saved_.contains(name)) return;
    const char* old = std::getenv(name.c_str());
    saved_[name] = old != nullptr ? std::optional<std::string>(old) : std::nullopt;
}

void ScopedEnv::set(const std::string& name, const std::string& value) {
    remember(name);
    ::setenv(name.c_str(), value.c_str(), 1);
}

void ScopedEnv::unset(const std::string& name) {
    remember(name);
    ::unsetenv(name.c_str());
}

ScopedEnv::~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
        if (value)
            ::setenv(name.c_str(), value->c_str(), 1);
        else
            ::unsetenv(name.c_str());
    }
}

// ---- Fixture --------------------------------------------------------------------------------

Fixture::Fixture(Setup setup) : setup_(std::move(setup)) {
    // Deterministic configuration: no JPKI_PKCS11_* from the caller's shell, no user config
    // file (XDG_CONFIG_HOME points at an empty directory). /etc/jpki-pkcs11.conf is the
    // machine's; the test bed has none.
    for (const char* name : kModuleVariables) env_.unset(name);
    env_.set("XDG_CONFIG_HOME", dir_.path().string());
    // Each test its own card cache (PSS proofs, read forms), empty at the start: no test sees
    // another's facts or the user's. A test may name a shared one in Setup::env.
    env_.set("XDG_CACHE_HOME", (dir_.path() / "cache").string());
    for (const auto& [name, value] : setup_.env) env_.set(name, value);

    for (std::size_t i = 0; i < setup_.readers.size(); ++i)
        reader_names_.push_back(i < setup_.reader_names.size() ? setup_.reader_names[i] : reader_name(i));
    readers_ = std::make_shared<VirtualReaders>(reader_names_);
    trace_files_.resize(setup_.readers.size());
    for (std::size_t i = 0; i < setup_.readers.size(); ++i)
        if (setup_.readers[i]) insert(i, *setup_.readers[i]);

    auto shared = readers_;
    jpki::api::Instance::get().set_transport_factory(
        [shared] { return std::make_unique<ForwardingTransport>(shared); });

    REQUIRE(C_GetFunctionList(&p11) == CKR_OK);
    REQUIRE(p11 != nullptr);
    if (setup_.initialize) REQUIRE(initialize() == CKR_OK);
}

Fixture::~Fixture() {
    // Whatever the test left behind: CKR_CRYPTOKI_NOT_INITIALIZED when it finalized itself.
    static_cast<void>(C_Finalize(nullptr));
    jpki::api::Instance::get().set_transport_factory(
        [] { return std::make_unique<VirtualReaders>(std::vector<std::string>{}); });
}

CK_RV Fixture::initialize() {
    if (setup_.reserved.empty()) return p11->C_Initialize(nullptr);
    args_ = CK_C_INITIALIZE_ARGS{};
    args_.flags = CKF_OS_LOCKING_OK;
    args_.pReserved = setup_.reserved.data();
    return p11->C_Initialize(&args_);
}

std::shared_ptr<Card> Fixture::card(std::size_t reader) { return readers_->card(reader_names_.at(reader)); }

void Fixture::insert(std::size_t reader, CardConfig config) {
    config.trace_file = (dir_.path() / ("card-" + std::to_string(cards_made_++) + ".trace")).string();
    trace_files_.at(reader) = config.trace_file;
    readers_->insert(reader_names_.at(reader), std::make_shared<Card>(std::move(config)));
}

void Fixture::remove(std::size_t reader) { readers_->remove(reader_names_.at(reader)); }

void Fixture::reset_by_other_program(std::size_t reader) { readers_->reset_by_other_program(reader_names_.at(reader)); }

std::vector<std::string> Fixture::apdus(std::size_t reader) const {
    std::vector<std::string> lines;
    std::ifstream in(trace_files_.at(reader));
    std::string line;
    while (std::getline(in, line))
        if (!line.empty() && line[0] != '#') lines.push_back(line);
    return lines;
}

CK_SESSION_HANDLE Fixture::open(CK_SLOT_ID slot, bool read_write) {
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    const CK_FLAGS flags = CKF_SERIAL_SESSION | (read_write ? CKF_RW_SESSION : 0);
    REQUIRE(p11->C_OpenSession(slot, flags, nullptr, nullptr, &session) == CKR_OK);
    REQUIRE(session != CK_INVALID_HANDLE);
    return session;
}

CK_RV Fixture::try_login(CK_SESSION_HANDLE session, std::string_view pin, CK_USER_TYPE user) {
    Bytes bytes = bytes_of(pin);
    bytes.push_back(0);  // never a NULL pointer, also for the empty PIN
    return p11->C_Login(session, user, bytes.data(), static_cast<CK_ULONG>(pin.size()));
}

void Fixture::login(CK_SESSION_HANDLE session, std::string_view pin) { REQUIRE(try_login(session, pin) == CKR_OK); }

std::vector<CK_OBJECT_HANDLE> Fixture::find(CK_SESSION_HANDLE session, std::vector<CK_ATTRIBUTE> match) {
    REQUIRE(p11->C_FindObjectsInit(session, match.empty() ? nullptr : match.data(),
                                   static_cast<CK_ULONG>(match.size())) == CKR_OK);
    std::vector<CK_OBJECT_HANDLE> found;
    for (;;) {
        CK_OBJECT_HANDLE batch[3];  // small batches: exercises the continuation
        CK_ULONG count = 0;
        REQUIRE(p11->C_FindObjects(session, batch, 3, &count) == CKR_OK);
        if (count == 0) break;
        found.insert(found.end(), batch, batch + count);
    }
    REQUIRE(p11->C_FindObjectsFinal(session) == CKR_OK);
    return found;
}

std::optional<CK_OBJECT_HANDLE> Fixture::find_optional(CK_SESSION_HANDLE session, CK_OBJECT_CLASS object_class,
                                                       std::uint8_t id) {
    CK_BYTE id_byte = id;
    const auto found = find(session, {{CKA_CLASS, &object_class, sizeof object_class}, {CKA_ID, &id_byte, 1}});
    REQUIRE(found.size() <= 1);
    if (found.empty()) return std::nullopt;
    return found[0];
}

CK_OBJECT_HANDLE Fixture::find_one(CK_SESSION_HANDLE session, CK_OBJECT_CLASS object_class, std::uint8_t id) {
    const auto found = find_optional(session, object_class, id);
    REQUIRE(found.has_value());
    return *found;
}

Bytes Fixture::attribute(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
    CK_ATTRIBUTE query{type, nullptr, 0};
    REQUIRE(p11->C_GetAttributeValue(session, object, &query, 1) == CKR_OK);
    REQUIRE(query.ulValueLen != CK_UNAVAILABLE_INFORMATION);
    Bytes value(query.ulValueLen);
    query.pValue = value.data();
    REQUIRE(p11->C_GetAttributeValue(session, object, &query, 1) == CKR_OK);
    REQUIRE(query.ulValueLen == value.size());
    return value;
}

CK_ULONG Fixture::ulong_attribute(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
    CK_ULONG value = 0;
    CK_ATTRIBUTE query{type, &value, sizeof value};
    REQUIRE(p11->C_GetAttributeValue(session, object, &query, 1) == CKR_OK);
    REQUIRE(query.ulValueLen == sizeof value);
    return value;
}

bool Fixture::bool_attribute(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
    CK_BBOOL value = 0xAA;
    CK_ATTRIBUTE query{type, &value, sizeof value};
    REQUIRE(p11->C_GetAttributeValue(session, object, &query, 1) == CKR_OK);
    REQUIRE(query.ulValueLen == 1);
    REQUIRE((value == CK_TRUE || value == CK_FALSE));
    return value == CK_TRUE;
}

CK_TOKEN_INFO Fixture::token_info(CK_SLOT_ID slot) {
    CK_TOKEN_INFO info{};
    REQUIRE(p11->C_GetTokenInfo(slot, &info) == CKR_OK);
    return info;
}

CK_SLOT_INFO Fixture::slot_info(CK_SLOT_ID slot) {
    CK_SLOT_INFO info{};
    REQUIRE(p11->C_GetSlotInfo(slot, &info) == CKR_OK);
    return info;
}

std::vector<CK_SLOT_ID> Fixture::slot_list(bool token_present) {
    CK_ULONG count = 0;
    const CK_BBOOL present = token_present ? CK_TRUE : CK_FALSE;
    REQUIRE(p11->C_GetSlotList(present, nullptr, &count) == CKR_OK);
    std::vector<CK_SLOT_ID> slots(count);
    REQUIRE(p11->C_GetSlotList(present, slots.data(), &count) == CKR_OK);
    slots.resize(count);
    return slots;
}

std::vector<CK_MECHANISM_TYPE> Fixture::mechanism_list(CK_SLOT_ID slot) {
    CK_ULONG count = 0;
    REQUIRE(p11->C_GetMechanismList(slot, nullptr, &count) == CKR_OK);
    std::vector<CK_MECHANISM_TYPE> mechanisms(count);
    REQUIRE(p11->C_GetMechanismList(slot, mechanisms.data(), &count) == CKR_OK);
    mechanisms.resize(count);
    return mechanisms;
}

Bytes Fixture::sign(CK_SESSION_HANDLE session, CK_MECHANISM_TYPE mechanism, CK_OBJECT_HANDLE key, const Bytes& data) {
    CK_MECHANISM m{mechanism, nullptr, 0};
    REQUIRE(p11->C_SignInit(session, &m, key) == CKR_OK);
    Bytes signature(signature_size);
    CK_ULONG length = signature_size;
    Bytes input = data;
    REQUIRE(p11->C_Sign(session, input.data(), static_cast<CK_ULONG>(input.size()), signature.data(), &length) ==
            CKR_OK);
    REQUIRE(length == signature_size);
    return signature;
}

Bytes Fixture::sign_parts(CK_SESSION_HANDLE session, CK_MECHANISM_TYPE mechanism, CK_OBJECT_HANDLE key,
                          const std::vector<Bytes>& parts) {
    CK_MECHANISM m{mechanism, nullptr, 0};
    REQUIRE(p11->C_SignInit(session, &m, key) == CKR_OK);
    for (Bytes part : parts)
        REQUIRE(p11->C_SignUpdate(session, part.data(), static_cast<CK_ULONG>(part.size())) == CKR_OK);
    Bytes signature(signature_size);
    CK_ULONG length = signature_size;
    REQUIRE(p11->C_SignFinal(session, signature.data(), &length) == CKR_OK);
    REQUIRE(length == signature_size);
    return signature;
}

std::vector<CK_SLOT_ID> Fixture::drain_events() {
    std::vector<CK_SLOT_ID> slots;
    for (int i = 0; i < 100; ++i) {
        CK_SLOT_ID slot = 999;
        const CK_RV rv = p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, nullptr);
        if (rv == CKR_NO_EVENT) return slots;
        REQUIRE(rv == CKR_OK);
        slots.push_back(slot);
    }
    FAIL("C_WaitForSlotEvent(CKF_DONT_BLOCK) never answered CKR_NO_EVENT");
    return slots;
}

// ---- trace predicates -------------------------------------------------------------------------

namespace {
// The command part of a trace line, "0020008004******** 63C2" -> "0020008004********".
std::string command_of(const std::string& line) { return line.substr(0, line.find(' ')); }
}  // namespace

bool is_verify_with_data(const std::string& line) {
    const std::string command = command_of(line);
    return command.starts_with("00200080") && command.size() > 8;
}

std::size_t count_verify_with_data(const std::vector<std::string>& lines) {
    return static_cast<std::size_t>(std::count_if(lines.begin(), lines.end(), is_verify_with_data));
}

std::size_t count_pin_commands(const std::vector<std::string>& lines) {
    return static_cast<std::size_t>(std::count_if(lines.begin(), lines.end(), [](const std::string& line) {
        const std::string command = command_of(line);
        return (command.starts_with("0020") || command.starts_with("0024")) && command.size() > 8;
    }));
}

std::size_t count_prefix(const std::vector<std::string>& lines, std::string_view prefix) {
    return static_cast<std::size_t>(
        std::count_if(lines.begin(), lines.end(), [&](const std::string& l) { return l.starts_with(prefix); }));
}

std::size_t refused_reads(const std::vector<std::string>& lines) {
    std::size_t refused = 0;
    for (const std::string& l : lines) {
        const bool by_sfi = l.size() > 4 && l.starts_with("00B0") && (l[4] >= '8');
        const bool extended = l.find(' ') == 14 && l.starts_with("00B0");
        const bool error = !l.ends_with(" 9000") && !l.ends_with(" 6982") && !l.ends_with(" 6A82");
        if ((by_sfi || extended) && error) ++refused;
    }
    return refused;
}

// ---- text, files, OpenSSL ---------------------------------------------------------------------

std::string text(const CK_UTF8CHAR* field, std::size_t size) {
    std::string out(reinterpret_cast<const char*>(field), size);
    const auto last = out.find_last_not_of(' ');
    return last == std::string::npos ? std::string() : out.substr(0, last + 1);
}

Bytes bytes_of(std::string_view text) { return Bytes(text.begin(), text.end()); }

Bytes pki_file(const std::string& name) {
    std::ifstream in(std::string(JPKI_TEST_PKI_DIR) + "/" + name, std::ios::binary);
    REQUIRE(in.good());
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

CertificateFacts certificate_facts(const Bytes& der) {
    const X509Ptr certificate = parse_certificate(der);
    CertificateFacts facts;
    facts.subject = der_of(X509_get_subject_name(certificate.get()),
                           [](const X509_NAME* n, unsigned char** out) { return i2d_X509_NAME(n, out); });
    facts.issuer = der_of(X509_get_issuer_name(certificate.get()),
                          [](const X509_NAME* n, unsigned char** out) { return i2d_X509_NAME(n, out); });
    const ASN1_INTEGER* serial = X509_get0_serialNumber(certificate.get());
    facts.serial_number = der_of(serial, [](const ASN1_INTEGER* i, unsigned char** out) { return i2d_ASN1_INTEGER(i, out); });
    const BnPtr serial_bn(ASN1_INTEGER_to_BN(serial, nullptr));
    char* hex = BN_bn2hex(serial_bn.get());
    facts.serial_hex = hex;
    OPENSSL_free(hex);

    const EVP_PKEY* key = X509_get0_pubkey(certificate.get());
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    REQUIRE(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) == 1);
    REQUIRE(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) == 1);
    const BnPtr n_owner(n), e_owner(e);
    facts.modulus = bn_bytes(n);
    facts.public_exponent = bn_bytes(e);
    return facts;
}

bool openssl_verifies(const Bytes& certificate_der, CK_MECHANISM_TYPE mechanism, const Bytes& data,
                      const Bytes& signature) {
    const X509Ptr certificate = parse_certificate(certificate_der);
    EVP_PKEY* key = X509_get0_pubkey(certificate.get());
    if (mechanism == CKM_RSA_PKCS_PSS || mechanism == CKM_SHA256_RSA_PKCS_PSS) {
        // RSASSA-PSS, SHA-256, MGF1-SHA-256, salt exactly 32 (what the card's P1 04 makes).
        Bytes hash = data;
        if (mechanism == CKM_SHA256_RSA_PKCS_PSS) {
            hash.resize(32);
            unsigned int length = 0;
            if (EVP_Digest(data.data(), data.size(), hash.data(), &length, EVP_sha256(), nullptr) != 1) return false;
        }
        const PkeyCtxPtr context(EVP_PKEY_CTX_new(key, nullptr));
        return context && EVP_PKEY_verify_init(context.get()) == 1 &&
               EVP_PKEY_CTX_set_rsa_padding(context.get(), RSA_PKCS1_PSS_PADDING) == 1 &&
               EVP_PKEY_CTX_set_signature_md(context.get(), EVP_sha256()) == 1 &&
               EVP_PKEY_CTX_set_rsa_mgf1_md(context.get(), EVP_sha256()) == 1 &&
               EVP_PKEY_CTX_set_rsa_pss_saltlen(context.get(), 32) == 1 &&
               EVP_PKEY_verify(context.get(), signature.data(), signature.size(), hash.data(), hash.size()) == 1;
    }
    if (mechanism == CKM_RSA_PKCS) {
        const PkeyCtxPtr context(EVP_PKEY_CTX_new(key, nullptr));
        if (!context || EVP_PKEY_verify_recover_init(context.get()) != 1 ||
            EVP_PKEY_CTX_set_rsa_padding(context.get(), RSA_PKCS1_PADDING) != 1)
            return false;
        Bytes recovered(512);
        std::size_t length = recovered.size();
        if (EVP_PKEY_verify_recover(context.get(), recovered.data(), &length, signature.data(), signature.size()) != 1)
            return false;
        recovered.resize(length);
        return recovered == data;
    }
    const EVP_MD* md = digest_for(mechanism);
    if (md == nullptr) return false;
    const MdCtxPtr context(EVP_MD_CTX_new());
    if (EVP_DigestVerifyInit(context.get(), nullptr, md, nullptr, key) != 1) return false;
    return EVP_DigestVerify(context.get(), signature.data(), signature.size(), data.data(), data.size()) == 1;
}

Bytes sha256_digest_info(const Bytes& data) {
    // DigestInfo prefix for SHA-256 (RFC 8017 §9.2 note 1) followed by the hash.
    Bytes info = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
                  0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
    unsigned char hash[32];
    unsigned int length = 0;
    REQUIRE(EVP_Digest(data.data(), data.size(), hash, &length, EVP_sha256(), nullptr) == 1);
    info.insert(info.end(), hash, hash + length);
    return info;
}

}  // namespace apitest
