#include "token/objects.hpp"

#include "crypto/error.hpp"
#include "token/errors.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

namespace jpki::token {
namespace {

template <typename T>
Bytes raw(const T& value) {
    Bytes out(sizeof(T));
    std::memcpy(out.data(), &value, sizeof(T));
    return out;
}

// CK_DATE "YYYYMMDD" of a certificate validity bound, UTC.
Bytes ck_date(std::chrono::system_clock::time_point when) {
    const auto days = std::chrono::floor<std::chrono::days>(when);
    const std::chrono::year_month_day date{days};
    char text[16];
    const int year = std::clamp(static_cast<int>(date.year()), 0, 9999);
    std::snprintf(text, sizeof text, "%04d%02u%02u", year, static_cast<unsigned>(date.month()),
                  static_cast<unsigned>(date.day()));
    return Bytes(text, text + 8);
}

// Runs an object builder: crypto::Error (a certificate field unreadable) becomes
// CKR_DEVICE_ERROR, as for a certificate EF that does not parse at all (objects.hpp).
template <typename Build>
Object from_certificate(Build&& build) {
    try {
        return build();
    } catch (const crypto::Error& error) {
        throw Error(CKR_DEVICE_ERROR, std::string("certificate on the card is unusable: ") + error.what());
    }
}

}  // namespace

Object::Object(CK_OBJECT_HANDLE handle, CK_OBJECT_CLASS object_class)
    : handle_(handle), object_class_(object_class) {
    set_ulong(CKA_CLASS, object_class);
    // Everything lives on the card, which this module never writes (docs/design.md §3).
    set_bool(CKA_TOKEN, true);
    set_bool(CKA_PRIVATE, false);
    set_bool(CKA_MODIFIABLE, false);
}

bool Object::is_private() const {
    const Bytes* value = find(CKA_PRIVATE);
    return value != nullptr && !value->empty() && (*value)[0] == CK_TRUE;
}

const Bytes* Object::find(CK_ATTRIBUTE_TYPE type) const {
    const auto it = attributes_.find(type);
    return it == attributes_.end() ? nullptr : &it->second;
}

Object& Object::set(CK_ATTRIBUTE_TYPE type, Bytes value) {
    attributes_[type] = std::move(value);
    return *this;
}
Object& Object::set_bool(CK_ATTRIBUTE_TYPE type, bool value) {
    return set(type, Bytes{static_cast<std::uint8_t>(value ? CK_TRUE : CK_FALSE)});
}
Object& Object::set_ulong(CK_ATTRIBUTE_TYPE type, CK_ULONG value) { return set(type, raw(value)); }
Object& Object::set_text(CK_ATTRIBUTE_TYPE type, std::string_view value) {
    return set(type, Bytes(value.begin(), value.end()));
}
Object& Object::set_sensitive(CK_ATTRIBUTE_TYPE type) {
    sensitive_.insert(type);
    return *this;
}
Object& Object::set_key_role(KeyRole role) {
    key_role_ = role;
    return *this;
}

CK_RV Object::get_attributes(std::span<CK_ATTRIBUTE> attributes) const {
    CK_RV rv = CKR_OK;
    for (CK_ATTRIBUTE& attribute : attributes) {
        if (sensitive_.contains(attribute.type)) {
            attribute.ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_ATTRIBUTE_SENSITIVE;
            continue;
        }
        const Bytes* value = find(attribute.type);
        if (value == nullptr) {
            attribute.ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_ATTRIBUTE_TYPE_INVALID;
        } else if (attribute.pValue == nullptr) {
            attribute.ulValueLen = static_cast<CK_ULONG>(value->size());
        } else if (attribute.ulValueLen >= value->size()) {
            std::copy(value->begin(), value->end(), static_cast<std::uint8_t*>(attribute.pValue));
            attribute.ulValueLen = static_cast<CK_ULONG>(value->size());
        } else {
            attribute.ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_BUFFER_TOO_SMALL;
        }
    }
    return rv;
}

bool Object::matches(std::span<const CK_ATTRIBUTE> match) const {
    return std::all_of(match.begin(), match.end(), [&](const CK_ATTRIBUTE& wanted) {
        if (sensitive_.contains(wanted.type)) return false;
        const Bytes* value = find(wanted.type);
        if (value == nullptr || value->size() != wanted.ulValueLen) return false;
        return value->empty() ||
               (wanted.pValue != nullptr && std::memcmp(value->data(), wanted.pValue, value->size()) == 0);
    });
}

Object& Object::mark_incomplete() {
    complete_ = false;
    return *this;
}

std::optional<bool> Object::matches_known(std::span<const CK_ATTRIBUTE> match) const {
    bool unknown = false;
    for (const CK_ATTRIBUTE& wanted : match) {
        if (!complete_ && find(wanted.type) == nullptr && !sensitive_.contains(wanted.type)) {
            unknown = true;
            continue;
        }
        if (!matches(std::span<const CK_ATTRIBUTE>(&wanted, 1))) return false;
    }
    if (unknown) return std::nullopt;
    return true;
}

namespace {

Object certificate_object(CK_OBJECT_HANDLE handle, const CertificateObjects& spec) {
    const crypto::Certificate& certificate = *spec.certificate;
    Object object(handle, CKO_CERTIFICATE);
    object.set_ulong(CKA_CERTIFICATE_TYPE, CKC_X_509)
        .set_bool(CKA_PRIVATE, spec.is_private)
        .set_bool(CKA_TRUSTED, false)  // trust is the application's decision, not the card's
        .set_ulong(CKA_CERTIFICATE_CATEGORY, spec.authority ? 2 : 1)
        .set(CKA_ID, spec.id)
        .set_text(CKA_LABEL, spec.label)
        .set(CKA_VALUE, certificate.der())
        .set(CKA_SUBJECT, certificate.subject_der())
        .set(CKA_ISSUER, certificate.issuer_der())
        .set(CKA_SERIAL_NUMBER, certificate.serial_number_der())
        .set(CKA_START_DATE, ck_date(certificate.not_before()))
        .set(CKA_END_DATE, ck_date(certificate.not_after()))
        .set_ulong(CKA_JAVA_MIDP_SECURITY_DOMAIN, 0)
        .set(CKA_URL, {})
        .set(CKA_HASH_OF_SUBJECT_PUBLIC_KEY, {})
        .set(CKA_HASH_OF_ISSUER_PUBLIC_KEY, {});
    return object;
}

// Attributes a public and a private RSA key object share (PKCS#11 2.40 §4.7-4.9, §2.1).
void set_rsa_key_common(Object& object, const CertificateObjects& spec, KeyRole role) {
    const crypto::RsaPublicKey key = spec.certificate->public_key();
    object.set_ulong(CKA_KEY_TYPE, CKK_RSA)
        .set(CKA_ID, spec.id)
        .set_text(CKA_LABEL, spec.label)
        .set(CKA_SUBJECT, spec.certificate->subject_der())
        .set(CKA_MODULUS, key.modulus())
        .set(CKA_PUBLIC_EXPONENT, key.public_exponent())
        .set_ulong(CKA_MODULUS_BITS, key.bits())
        .set(CKA_START_DATE, {})
        .set(CKA_END_DATE, {})
        .set_bool(CKA_DERIVE, false)
        .set_bool(CKA_LOCAL, true)  // generated on the card at issuance
        .set_ulong(CKA_KEY_GEN_MECHANISM, CK_UNAVAILABLE_INFORMATION)
        .set_key_role(role);
}

Object public_key_object(CK_OBJECT_HANDLE handle, const CertificateObjects& spec, KeyRole role) {
    Object object(handle, CKO_PUBLIC_KEY);
    set_rsa_key_common(object, spec, role);
    object.set_bool(CKA_PRIVATE, spec.is_private)
        .set_bool(CKA_VERIFY, true)  // C_Verify runs in software with this key
        .set_bool(CKA_ENCRYPT, false)
        .set_bool(CKA_VERIFY_RECOVER, false)
        .set_bool(CKA_WRAP, false)
        .set_bool(CKA_TRUSTED, false);
    return object;
}

Object private_key_object(CK_OBJECT_HANDLE handle, const CertificateObjects& spec, KeyRole role,
                          bool always_authenticate) {
    Object object(handle, CKO_PRIVATE_KEY);
    set_rsa_key_common(object, spec, role);
    object.set_bool(CKA_PRIVATE, true)
        .set_bool(CKA_SIGN, true)
        .set_bool(CKA_SIGN_RECOVER, false)
        .set_bool(CKA_DECRYPT, false)  // the JPKI applet signs only
        .set_bool(CKA_UNWRAP, false)
        .set_bool(CKA_SENSITIVE, true)
        .set_bool(CKA_ALWAYS_SENSITIVE, true)
        .set_bool(CKA_EXTRACTABLE, false)
        .set_bool(CKA_NEVER_EXTRACTABLE, true)
        .set_bool(CKA_WRAP_WITH_TRUSTED, false)
        .set_bool(CKA_ALWAYS_AUTHENTICATE, always_authenticate);
    for (const CK_ATTRIBUTE_TYPE secret : {CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1,
                                           CKA_EXPONENT_2, CKA_COEFFICIENT, CKA_VALUE})
        object.set_sensitive(secret);
    return object;
}

}  // namespace

Object make_certificate(CK_OBJECT_HANDLE handle, const CertificateObjects& spec) {
    return from_certificate([&] { return certificate_object(handle, spec); });
}

Object make_public_key(CK_OBJECT_HANDLE handle, const CertificateObjects& spec, KeyRole role) {
    return from_certificate([&] { return public_key_object(handle, spec, role); });
}

Object make_private_key(CK_OBJECT_HANDLE handle, const CertificateObjects& spec, KeyRole role,
                        bool always_authenticate) {
    return from_certificate([&] { return private_key_object(handle, spec, role, always_authenticate); });
}

Object make_public_certificates_profile(CK_OBJECT_HANDLE handle) {
    Object object(handle, CKO_PROFILE);
    object.set_ulong(CKA_PROFILE_ID, CKP_PUBLIC_CERTIFICATES_TOKEN);
    return object;
}

}  // namespace jpki::token
