// X.509 certificates read from the card (EF 000A/0001 user certificates, EF 000B/0002 J-LIS CA
// certificates): the fields PKCS#11 objects and the `jpki` CLI show, as DER where PKCS#11 wants
// DER (CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER).
#pragma once

#include "crypto/bytes.hpp"
#include "crypto/context.hpp"
#include "crypto/ossl.hpp"
#include "crypto/rsa.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace jpki::crypto {

class Certificate {
public:
    // Parses exactly one DER certificate. Bytes after it are refused: the card layer strips the
    // EF's filler first (the EFs are padded after the DER, docs/card.md). Throws crypto::Error.
    // `context` must outlive the certificate.
    Certificate(Context& context, ByteView der);

    Certificate(Certificate&&) noexcept = default;
    Certificate& operator=(Certificate&&) noexcept = default;
    Certificate(const Certificate&) = delete;
    Certificate& operator=(const Certificate&) = delete;
    ~Certificate() = default;

    // The certificate as read (CKA_VALUE).
    [[nodiscard]] const Bytes& der() const noexcept { return der_; }
    [[nodiscard]] Bytes subject_der() const;
    [[nodiscard]] Bytes issuer_der() const;
    // The serial as a DER INTEGER, tag and length included (CKA_SERIAL_NUMBER; NSS matches it
    // with the issuer).
    [[nodiscard]] Bytes serial_number_der() const;
    // Upper-case hex of the serial's value, without the DER sign byte ("2F792996A3018F00"):
    // the token serial (docs/design.md §3).
    [[nodiscard]] std::string serial_hex() const;
    // The token serial (docs/design.md §3; CK_TOKEN_INFO.serialNumber holds 16 characters): the
    // last 16 characters of serial_hex(), all of it when shorter. Of the authentication
    // certificate, it names the card for the module (both tokens) and for `jpki`, and keys the
    // per-user card cache (cache/card_cache.hpp): one definition, so both name a card alike.
    [[nodiscard]] std::string token_serial() const;
    // One line, RFC 2253 order and syntax, UTF-8 kept as UTF-8 (labels, CLI).
    [[nodiscard]] std::string subject_text() const;
    [[nodiscard]] std::string issuer_text() const;
    // The subject's (last) commonName in UTF-8, or "" when there is none.
    [[nodiscard]] std::string subject_common_name() const;
    [[nodiscard]] std::chrono::system_clock::time_point not_before() const;
    [[nodiscard]] std::chrono::system_clock::time_point not_after() const;
    // basicConstraints cA = TRUE.
    [[nodiscard]] bool is_ca() const noexcept;
    // A CA certificate in the strict sense a trust store wants (RFC 5280 §4.2.1.9, §4.2.1.3):
    // basicConstraints present with cA = TRUE, and keyUsage present with keyCertSign.
    [[nodiscard]] bool is_issuing_ca() const noexcept;
    // Every organizationalUnitName of the subject in UTF-8, in the order of the DER (J-LIS names
    // its two hierarchies by OU: "JPKI for user authentication", "JPKI for digital signature",
    // docs/card.md "Certificates"). Throws crypto::Error when a value cannot be read.
    [[nodiscard]] std::vector<std::string> subject_organizational_units() const;
    // The subjectKeyIdentifier extension's value, when present.
    [[nodiscard]] std::optional<Bytes> subject_key_id() const;
    // Throws crypto::Error when the key is not RSA (the next-generation card's ECDSA keys are
    // not handled yet, docs/design.md §6).
    [[nodiscard]] RsaPublicKey public_key() const;
    // True when `ca`'s public key verifies this certificate's signature. Names are not compared:
    // J-LIS CA generations share names, so the key decides (and it is what matters).
    [[nodiscard]] bool issued_by(const Certificate& ca) const;

private:
    Bytes der_;
    ossl::X509Ptr x509_;
};

}  // namespace jpki::crypto
