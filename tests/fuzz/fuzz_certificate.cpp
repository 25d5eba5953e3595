// Fuzz target: the certificate wrapper (src/crypto/certificate.*) and the PKCS#11 objects the
// token layer builds from a certificate (src/token/objects.*). Input: the DER bytes as they
// would come out of a certificate EF.
//
// Asserted, beyond "no crash": the constructor accepts exactly one DER object and keeps it as
// CKA_VALUE; every accessor either answers or throws crypto::Error; the object builders either
// answer or throw token::Error(CKR_DEVICE_ERROR), never a crypto::Error; the serial's DER is an
// INTEGER whose value serial_hex() spells; CKA_SUBJECT / CKA_ISSUER are the certificate's own
// bytes; CKA_START_DATE / CKA_END_DATE are 8 ASCII digits; C_GetAttributeValue's two-call rule
// holds on every object (size query, then the same bytes; one byte less is
// CKR_BUFFER_TOO_SMALL), and the private key never reveals its secrets.
#include "scripted_connection.hpp"  // require / fail

#include "crypto/certificate.hpp"
#include "crypto/context.hpp"
#include "crypto/error.hpp"
#include "token/errors.hpp"
#include "token/objects.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <vector>

using jpki::Bytes;
using jpki::fuzz::require;

namespace {

jpki::crypto::Context& context() {
    static jpki::crypto::Context instance;
    return instance;
}

std::string hex_of(const Bytes& bytes) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (const std::uint8_t b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 0x0F];
    }
    return out;
}

// The INTEGER's value bytes without DER's sign byte and without the tag and length.
Bytes integer_magnitude(const Bytes& der) {
    require(der.size() >= 3 && der[0] == 0x02, "serial number is not a DER INTEGER");
    std::size_t header = 2;
    if (der[1] & 0x80) header += der[1] & 0x7F;
    require(der.size() > header, "serial INTEGER without value");
    Bytes value(der.begin() + static_cast<std::ptrdiff_t>(header), der.end());
    if (value[0] & 0x80) {  // negative: serial_hex() spells the magnitude; leave that alone
        return {};
    }
    while (value.size() > 1 && value[0] == 0x00) value.erase(value.begin());
    return value;
}

void check_date(const Bytes& date) {
    require(date.size() == 8, "CK_DATE is not 8 bytes");
    for (const std::uint8_t c : date) require(std::isdigit(c) != 0, "CK_DATE holds a non-digit");
}

// PKCS#11 2.40 §5.7.5 on one object: query every attribute's size, then read it.
void check_attributes(const jpki::token::Object& object) {
    static constexpr CK_ATTRIBUTE_TYPE types[] = {
        CKA_CLASS,      CKA_TOKEN,         CKA_PRIVATE,          CKA_LABEL,          CKA_VALUE,
        CKA_SUBJECT,    CKA_ISSUER,        CKA_SERIAL_NUMBER,    CKA_START_DATE,     CKA_END_DATE,
        CKA_ID,         CKA_MODULUS,       CKA_PUBLIC_EXPONENT,  CKA_MODULUS_BITS,   CKA_KEY_TYPE,
        CKA_SIGN,       CKA_PRIVATE_EXPONENT, CKA_PRIME_1,       CKA_CERTIFICATE_TYPE, CKA_SENSITIVE,
        CKA_ALWAYS_AUTHENTICATE, CKA_VENDOR_DEFINED};
    for (const CK_ATTRIBUTE_TYPE type : types) {
        CK_ATTRIBUTE query{type, nullptr, 0};
        const CK_RV rv = object.get_attributes({&query, 1});
        const Bytes* stored = object.find(type);
        if (rv != CKR_OK) {
            require(rv == CKR_ATTRIBUTE_SENSITIVE || rv == CKR_ATTRIBUTE_TYPE_INVALID, "unexpected CK_RV");
            require(query.ulValueLen == CK_UNAVAILABLE_INFORMATION, "failing attribute keeps a length");
            continue;
        }
        require(stored != nullptr && query.ulValueLen == stored->size(), "size query disagrees with the value");
        Bytes buffer(query.ulValueLen + 1, 0xEE);
        CK_ATTRIBUTE read{type, buffer.data(), query.ulValueLen};
        require(object.get_attributes({&read, 1}) == CKR_OK, "second call failed");
        require(std::equal(stored->begin(), stored->end(), buffer.begin()) && buffer.back() == 0xEE,
                "second call wrote other bytes");
        if (query.ulValueLen > 0) {
            CK_ATTRIBUTE small{type, buffer.data(), query.ulValueLen - 1};
            require(object.get_attributes({&small, 1}) == CKR_BUFFER_TOO_SMALL, "short buffer accepted");
        }
    }
}

// The token layer's objects from a certificate that parsed.
void check_objects(const jpki::crypto::Certificate& certificate) {
    try {
        using jpki::token::CertificateObjects;
        using jpki::token::KeyRole;
        const CertificateObjects spec{&certificate, Bytes{0x01}, "User Authentication Certificate", false, false};
        const jpki::token::Object cert_object = jpki::token::make_certificate(1, spec);
        check_date(*cert_object.find(CKA_START_DATE));
        check_date(*cert_object.find(CKA_END_DATE));
        check_attributes(cert_object);
        // Keys need an RSA public key; others are refused (docs/design.md §6).
        const jpki::token::Object public_key = jpki::token::make_public_key(2, spec, KeyRole::Auth);
        check_attributes(public_key);
        const jpki::token::Object private_key = jpki::token::make_private_key(3, spec, KeyRole::Auth, false);
        check_attributes(private_key);
        CK_ATTRIBUTE secret{CKA_PRIVATE_EXPONENT, nullptr, 0};
        require(private_key.get_attributes({&secret, 1}) == CKR_ATTRIBUTE_SENSITIVE, "a secret is revealed");
        require(public_key.find(CKA_MODULUS) != nullptr &&
                    *public_key.find(CKA_MODULUS) == *private_key.find(CKA_MODULUS),
                "public and private key disagree");
    } catch (const jpki::token::Error& e) {
        // An unusable certificate (a key that does not decode, or is not RSA): the token layer's
        // answer must be CKR_DEVICE_ERROR, never an OpenSSL error escaping as CKR_GENERAL_ERROR.
        require(e.rv() == CKR_DEVICE_ERROR, "objects refused with a CK_RV other than CKR_DEVICE_ERROR");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        jpki::fuzz::fail("an object builder threw an exception other than token::Error");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const jpki::crypto::ByteView der(data, size);
    try {
        const jpki::crypto::Certificate certificate(context(), der);
        require(certificate.der() == Bytes(der.begin(), der.end()), "CKA_VALUE differs from the input");
        const Bytes subject = certificate.subject_der();
        const Bytes issuer = certificate.issuer_der();
        // Names keep their encoding: byte for byte a part of the certificate (what NSS compares).
        const auto inside = [&](const Bytes& part) {
            return !part.empty() && std::search(der.begin(), der.end(), part.begin(), part.end()) != der.end();
        };
        require(inside(subject) && inside(issuer), "a name is not the certificate's own bytes");
        const Bytes serial = certificate.serial_number_der();
        const Bytes magnitude = integer_magnitude(serial);
        if (!magnitude.empty()) require(certificate.serial_hex() == hex_of(magnitude), "serial_hex disagrees");
        (void)certificate.subject_text();
        (void)certificate.issuer_text();
        (void)certificate.subject_common_name();
        (void)certificate.is_ca();
        (void)certificate.subject_key_id();
        (void)certificate.issued_by(certificate);
        check_objects(certificate);
    } catch (const jpki::crypto::Error&) {
        // not a certificate, or a field OpenSSL cannot read: crypto::Error is the answer
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        jpki::fuzz::fail("an accessor threw an exception other than crypto::Error");
    }
    return 0;
}
