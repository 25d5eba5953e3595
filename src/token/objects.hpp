// The objects a JPKI token shows (docs/design.md §3 "Objects") and the attribute rules of
// PKCS#11 2.40 §5.7.5 (C_GetAttributeValue) and §5.7.7 (template matching), in one place.
#pragma once

#include "card/profile.hpp"
#include "crypto/certificate.hpp"
#include "jpki/pkcs11.hpp"
#include "jpki/transport.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <vector>

namespace jpki::token {

// Which card key an object stands for: the one COMPUTE DIGITAL SIGNATURE uses.
enum class KeyRole { Auth, Sign };

class Object {
public:
    Object(CK_OBJECT_HANDLE handle, CK_OBJECT_CLASS object_class);

    [[nodiscard]] CK_OBJECT_HANDLE handle() const { return handle_; }
    [[nodiscard]] CK_OBJECT_CLASS object_class() const { return object_class_; }
    // CKA_PRIVATE: visible only while the slot's PIN is logged in.
    [[nodiscard]] bool is_private() const;
    // The card key behind a private or public key object.
    [[nodiscard]] std::optional<KeyRole> key_role() const { return key_role_; }
    [[nodiscard]] const Bytes* find(CK_ATTRIBUTE_TYPE type) const;

    // Builders.
    Object& set(CK_ATTRIBUTE_TYPE type, Bytes value);
    Object& set_bool(CK_ATTRIBUTE_TYPE type, bool value);
    Object& set_ulong(CK_ATTRIBUTE_TYPE type, CK_ULONG value);
    Object& set_text(CK_ATTRIBUTE_TYPE type, std::string_view value);
    // An attribute that exists but is never revealed (CKR_ATTRIBUTE_SENSITIVE).
    Object& set_sensitive(CK_ATTRIBUTE_TYPE type);
    Object& set_key_role(KeyRole role);

    // §5.7.5: fills each attribute of the template, processing all of them even when one
    // fails, and returns CKR_OK, CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID or
    // CKR_BUFFER_TOO_SMALL (ulValueLen = CK_UNAVAILABLE_INFORMATION on each failing one).
    CK_RV get_attributes(std::span<CK_ATTRIBUTE> attributes) const;
    // §5.7.7: every attribute of the template present with exactly the given value.
    [[nodiscard]] bool matches(std::span<const CK_ATTRIBUTE> match) const;
    // For an object whose certificate-derived attributes are not loaded yet (see
    // mark_incomplete): false or true when its known attributes decide, nullopt otherwise.
    [[nodiscard]] std::optional<bool> matches_known(std::span<const CK_ATTRIBUTE> match) const;

    // Objects are first made with the attributes that cost no card I/O (class, ID, label...);
    // the rest arrive when a caller needs them, so a certificate nobody asks for is never read.
    Object& mark_incomplete();
    [[nodiscard]] bool complete() const { return complete_; }

private:
    CK_OBJECT_HANDLE handle_;
    CK_OBJECT_CLASS object_class_;
    std::map<CK_ATTRIBUTE_TYPE, Bytes> attributes_;
    std::set<CK_ATTRIBUTE_TYPE> sensitive_;
    std::optional<KeyRole> key_role_;
    bool complete_ = true;
};

// What one card holds for one slot, as objects; handles come from `next_handle`, which never
// repeats for the life of the module.
struct CertificateObjects {
    const crypto::Certificate* certificate;
    Bytes id;                  // CKA_ID, e.g. {0x01}
    std::string label;         // CKA_LABEL, OpenSC's labels so existing URIs keep working
    bool authority;            // CKA_CERTIFICATE_CATEGORY 2 (authority) or 1 (token user)
    bool is_private;           // the sign certificate: only after login
};

// A certificate whose fields cannot be read (a damaged certificate EF whose DER still parses,
// e.g. a key that does not decode, or a key that is not RSA, docs/design.md §6) makes these throw
// token::Error(CKR_DEVICE_ERROR): the card's data is at fault, not the module.
Object make_certificate(CK_OBJECT_HANDLE handle, const CertificateObjects& spec);
Object make_public_key(CK_OBJECT_HANDLE handle, const CertificateObjects& spec, KeyRole role);
Object make_private_key(CK_OBJECT_HANDLE handle, const CertificateObjects& spec, KeyRole role,
                        bool always_authenticate);
// CKO_PROFILE with CKP_PUBLIC_CERTIFICATES_TOKEN: NSS then lists certificates without login.
Object make_public_certificates_profile(CK_OBJECT_HANDLE handle);

// ---- What each token shows, one row per object (docs/design.md §3 "Objects") ----------------

// Where an object's attributes come from: the role's certificate (its key objects too), the
// role's CA certificate (card::RoleProfile), or nothing read from the card.
enum class ObjectSource : std::uint8_t { Certificate, CaCertificate, None };
// When an object is listed. AfterLogin objects carry CKA_PRIVATE = true.
enum class Visibility : std::uint8_t { FirstLook, AfterLogin };

struct ObjectRow {
    card::PinRole role;      // the token (slot) that shows it
    CK_OBJECT_CLASS cls;     // CKO_CERTIFICATE, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY or CKO_PROFILE
    std::uint8_t id;         // CKA_ID, one byte (none for CKO_PROFILE)
    std::string_view label;  // CKA_LABEL (none for CKO_PROFILE)
    ObjectSource from;
    Visibility visible;
};

// Labels and IDs as OpenSC's JPKI driver gives them, so PKCS#11 URIs written for OpenSC keep
// working. A role's objects are made in this order, its FirstLook rows when the token is first
// looked at and its AfterLogin rows at the first look after login; handles follow that order.
inline constexpr std::array<ObjectRow, 9> object_rows = {{
    // The authentication certificate is readable without PIN: NSS may list it (and its public
    // key) before login; the profile object tells it so.
    {.role = card::PinRole::Auth, .cls = CKO_CERTIFICATE, .id = 0x03, .label = "User Authentication Certificate CA",
     .from = ObjectSource::CaCertificate, .visible = Visibility::FirstLook},
    {.role = card::PinRole::Auth, .cls = CKO_CERTIFICATE, .id = 0x01, .label = "User Authentication Certificate",
     .from = ObjectSource::Certificate, .visible = Visibility::FirstLook},
    {.role = card::PinRole::Auth, .cls = CKO_PUBLIC_KEY, .id = 0x01, .label = "User Authentication Public Key",
     .from = ObjectSource::Certificate, .visible = Visibility::FirstLook},
    {.role = card::PinRole::Auth, .cls = CKO_PROFILE, .id = 0x00, .label = "",
     .from = ObjectSource::None, .visible = Visibility::FirstLook},
    {.role = card::PinRole::Auth, .cls = CKO_PRIVATE_KEY, .id = 0x01, .label = "User Authentication Key",
     .from = ObjectSource::Certificate, .visible = Visibility::AfterLogin},
    // The signing certificate (EF 0001) is readable only after the signature password.
    {.role = card::PinRole::Sign, .cls = CKO_CERTIFICATE, .id = 0x04, .label = "Digital Signature Certificate CA",
     .from = ObjectSource::CaCertificate, .visible = Visibility::FirstLook},
    {.role = card::PinRole::Sign, .cls = CKO_CERTIFICATE, .id = 0x02, .label = "Digital Signature Certificate",
     .from = ObjectSource::Certificate, .visible = Visibility::AfterLogin},
    {.role = card::PinRole::Sign, .cls = CKO_PUBLIC_KEY, .id = 0x02, .label = "Digital Signature Public Key",
     .from = ObjectSource::Certificate, .visible = Visibility::AfterLogin},
    {.role = card::PinRole::Sign, .cls = CKO_PRIVATE_KEY, .id = 0x02, .label = "Digital Signature Key",
     .from = ObjectSource::Certificate, .visible = Visibility::AfterLogin},
}};

}  // namespace jpki::token
