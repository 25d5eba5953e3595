#include "crypto/certificate.hpp"

#include "crypto/error.hpp"

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/x509v3.h>

#include <climits>
#include <cstdint>
#include <ctime>
#include <memory>

namespace jpki::crypto {
namespace {

// i2d of any OpenSSL object into a Bytes.
template <typename T>
Bytes to_der(const T* object, int (*i2d)(const T*, unsigned char**), const char* what) {
    const int length = i2d(object, nullptr);
    if (length <= 0) throw Error(what);
    Bytes out(static_cast<std::size_t>(length));
    unsigned char* p = out.data();
    if (i2d(object, &p) != length) throw Error(what);
    return out;
}

Bytes name_der(const X509_NAME* name) {
    // Parsed names keep their original encoding, so this is byte-for-byte what the card holds.
    return to_der<X509_NAME>(name, i2d_X509_NAME, "encoding a name");
}

std::string name_text(const X509_NAME* name) {
    const ossl::Bio bio(BIO_new(BIO_s_mem()));
    // RFC 2253 but without escaping bytes >= 0x80: the names hold UTF-8 (Japanese) text.
    const unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
    if (!bio || X509_NAME_print_ex(bio.get(), name, 0, flags) < 0) throw Error("printing a name");
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return length > 0 ? std::string(data, static_cast<std::size_t>(length)) : std::string();
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* time) {
    std::tm tm{};
    if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) throw Error("reading a validity date");
    // system_clock counts nanoseconds in 64 bits (about 1678..2262): a date outside that, which
    // ASN.1 allows up to year 9999, cannot be a time_point (from_time_t would overflow).
    const std::time_t seconds = timegm(&tm);
    constexpr auto limit =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::duration::max()).count();
    if (seconds > limit || seconds < -limit) throw Error("validity date out of range");
    return std::chrono::system_clock::from_time_t(seconds);
}

Bytes bn_bytes(const BIGNUM* bn) {
    Bytes out(static_cast<std::size_t>(BN_num_bytes(bn)));
    BN_bn2bin(bn, out.data());
    return out;
}

Bytes rsa_param(const EVP_PKEY* pkey, const char* name) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1) throw Error("reading an RSA key parameter");
    const ossl::Bn bn(raw);
    return bn_bytes(bn.get());
}

}  // namespace

Certificate::Certificate(Context& context, ByteView der) : der_(der.begin(), der.end()) {
    if (der_.empty() || der_.size() > static_cast<std::size_t>(LONG_MAX))
        throw Error("certificate: no data");
    // d2i into an object made with X509_new_ex keeps our library context for every later
    // operation on it (key decoding, signature checks).
    X509* target = X509_new_ex(context.libctx(), nullptr);
    if (target == nullptr) throw Error("X509_new_ex");
    const unsigned char* p = der_.data();
    if (d2i_X509(&target, &p, static_cast<long>(der_.size())) == nullptr) {
        X509_free(target);  // d2i has freed and nulled it already; this is a no-op then
        throw Error("parsing a certificate");
    }
    x509_.reset(target);
    if (p != der_.data() + der_.size()) throw Error("certificate: bytes after the DER");
    // Decode the extensions now, once: OpenSSL caches them lazily, which would be a write from
    // const accessors, racing when two threads read one certificate.
    if ((X509_get_extension_flags(x509_.get()) & EXFLAG_INVALID) != 0)
        throw Error("certificate: invalid extensions");
}

Bytes Certificate::subject_der() const { return name_der(X509_get_subject_name(x509_.get())); }
Bytes Certificate::issuer_der() const { return name_der(X509_get_issuer_name(x509_.get())); }
std::string Certificate::subject_text() const { return name_text(X509_get_subject_name(x509_.get())); }
std::string Certificate::issuer_text() const { return name_text(X509_get_issuer_name(x509_.get())); }

Bytes Certificate::serial_number_der() const {
    return to_der<ASN1_INTEGER>(X509_get0_serialNumber(x509_.get()), i2d_ASN1_INTEGER,
                                "encoding the serial number");
}

std::string Certificate::serial_hex() const {
    const ossl::Bn bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(x509_.get()), nullptr));
    if (!bn) throw Error("reading the serial number");
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string hex;
    for (const std::uint8_t b : bn_bytes(bn.get())) {
        hex += digits[b >> 4];
        hex += digits[b & 0x0f];
    }
    return hex.empty() ? std::string("00") : hex;
}

std::string Certificate::token_serial() const {
    constexpr std::size_t length = 16;  // CK_TOKEN_INFO.serialNumber
    std::string hex = serial_hex();
    if (hex.size() > length) hex.erase(0, hex.size() - length);
    return hex;
}

std::string Certificate::subject_common_name() const {
    const X509_NAME* name = X509_get_subject_name(x509_.get());
    int index = -1;
    int last = -1;
    while ((index = X509_NAME_get_index_by_NID(name, NID_commonName, index)) >= 0) last = index;
    if (last < 0) return {};
    const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, last));
    unsigned char* utf8 = nullptr;
    const int length = ASN1_STRING_to_UTF8(&utf8, value);
    if (length < 0) throw Error("reading the commonName");
    std::string text(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
    OPENSSL_free(utf8);
    return text;
}

std::chrono::system_clock::time_point Certificate::not_before() const {
    return to_time_point(X509_get0_notBefore(x509_.get()));
}
std::chrono::system_clock::time_point Certificate::not_after() const {
    return to_time_point(X509_get0_notAfter(x509_.get()));
}

bool Certificate::is_ca() const noexcept {
    return (X509_get_extension_flags(x509_.get()) & EXFLAG_CA) != 0;
}

bool Certificate::is_issuing_ca() const noexcept {
    const std::uint32_t flags = X509_get_extension_flags(x509_.get());
    return (flags & EXFLAG_BCONS) != 0 && (flags & EXFLAG_CA) != 0 && (flags & EXFLAG_KUSAGE) != 0 &&
           (X509_get_key_usage(x509_.get()) & KU_KEY_CERT_SIGN) != 0;
}

std::vector<std::string> Certificate::subject_organizational_units() const {
    const X509_NAME* name = X509_get_subject_name(x509_.get());
    std::vector<std::string> units;
    int index = -1;
    while ((index = X509_NAME_get_index_by_NID(name, NID_organizationalUnitName, index)) >= 0) {
        const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
        unsigned char* utf8 = nullptr;
        const int length = ASN1_STRING_to_UTF8(&utf8, value);
        if (length < 0) throw Error("reading an organizationalUnitName");
        const std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(utf8, [](unsigned char* p) { OPENSSL_free(p); });
        units.emplace_back(reinterpret_cast<const char*>(owned.get()), static_cast<std::size_t>(length));  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast): OpenSSL's UTF-8 bytes
    }
    return units;
}

std::optional<Bytes> Certificate::subject_key_id() const {
    const ASN1_OCTET_STRING* id = X509_get0_subject_key_id(x509_.get());
    if (id == nullptr) return std::nullopt;
    const unsigned char* data = ASN1_STRING_get0_data(id);
    return Bytes(data, data + ASN1_STRING_length(id));
}

RsaPublicKey Certificate::public_key() const {
    const EVP_PKEY* pkey = X509_get0_pubkey(x509_.get());
    if (pkey == nullptr) throw Error("decoding the public key");
    if (EVP_PKEY_is_a(pkey, "RSA") != 1) throw Error("certificate key is not RSA");
    Bytes modulus = rsa_param(pkey, OSSL_PKEY_PARAM_RSA_N);
    Bytes exponent = rsa_param(pkey, OSSL_PKEY_PARAM_RSA_E);
    // OpenSSL decodes n = 0 or e = 0 without complaint; RsaPublicKey refuses them with
    // std::invalid_argument, which is for our own mistakes, not for what a card holds.
    if (modulus.empty() || exponent.empty()) throw Error("certificate RSA key has a zero modulus or exponent");
    return RsaPublicKey(std::move(modulus), std::move(exponent));
}

bool Certificate::issued_by(const Certificate& ca) const {
    EVP_PKEY* ca_key = X509_get0_pubkey(ca.x509_.get());
    if (ca_key == nullptr) throw Error("decoding the CA's public key");
    const int result = X509_verify(x509_.get(), ca_key);
    if (result != 1) clear_errors();  // "not this CA" is an answer
    return result == 1;
}

}  // namespace jpki::crypto
