// Detached CMS signatures (RFC 5652 SignedData, the .p7s of `jpki sign` / `jpki verify`, issue 8)
// made and checked by OpenSSL's CMS code. This layer knows nothing of cards: the private-key
// operation is a callback, which the CLI points at the card (JpkiApplet::sign) and the unit tests
// at a software key.
#pragma once

#include "crypto/bytes.hpp"
#include "crypto/certificate.hpp"
#include "crypto/context.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jpki::crypto {

// The private-key operation of RSASSA-PKCS1-v1_5 (RFC 8017 §8.2.1 step 2 onward): given the DER
// DigestInfo (for SHA-256: 51 bytes, prefix 30 31 30 0d ... 04 20), return the signature, as many
// bytes as the modulus. Exactly what the card's COMPUTE DIGITAL SIGNATURE P1 00 does. It may
// throw; the exception reaches cms_sign_detached's caller unchanged.
using DigestInfoSigner = std::function<Bytes(ByteView digest_info)>;

// A detached SignedData over `content`, DER: SHA-256, rsaEncryption, signed attributes
// contentType (id-data), messageDigest and signingTime (now), `signer`'s certificate included,
// no content. `sign` is called once; its signature is verified with the certificate's public key
// before the result is returned. Throws crypto::Error when the signature has the wrong length or
// does not verify, or OpenSSL refuses; whatever `sign` throws passes through.
[[nodiscard]] Bytes cms_sign_detached(Context& context, ByteView content, const Certificate& signer,
                                      const DigestInfoSigner& sign);
// The same over the whole of an open file (`content_fd`, read from offset 0, twice: signing and
// the self-check; the descriptor stays open and its offset moves). The content is streamed in
// small blocks: memory does not grow with the file's size (issue 8: a 300 MB file took 530 MB).
// A read error throws crypto::Error.
[[nodiscard]] Bytes cms_sign_detached(Context& context, int content_fd, const Certificate& signer,
                                      const DigestInfoSigner& sign);

// Every certificate of a PEM text, as DER, in order. Throws crypto::Error when a PEM block is
// not a certificate; text outside the blocks is ignored.
[[nodiscard]] std::vector<Bytes> certificates_from_pem(std::string_view pem);

struct CmsVerification {
    enum class Outcome {
        Valid,               // signature over the content and the signer's chain to a CA both check
        Corrupt,             // not a DER CMS SignedData with one signer and its certificate
        ContentMismatch,     // the signature does not fit the content (changed, or another file)
        CertificateInvalid,  // the signature fits, the signer certificate does not verify
    };
    enum class CertificateProblem { None, UnknownIssuer, Expired, NotYetValid, Other };

    Outcome outcome = Outcome::Corrupt;
    // From the SignedData itself, whenever it could be parsed (also when it does not verify).
    std::optional<Bytes> signer_certificate;  // DER
    std::optional<std::chrono::system_clock::time_point> signing_time;
    // For CertificateInvalid: the kind, and OpenSSL's text for it (English).
    CertificateProblem certificate_problem = CertificateProblem::None;
    std::string detail;
};

// Checks a detached SignedData (DER) against `content`, with `trusted_cas` (DER) as the only
// trust anchors and the certificates inside the SignedData as intermediates. Offline: no CRL or
// OCSP. Validity is checked at the current time. Any purpose: JPKI certificates carry no S/MIME
// extended key usage. Throws crypto::Error only when OpenSSL cannot allocate or a CA does not parse.
[[nodiscard]] CmsVerification cms_verify_detached(Context& context, ByteView content, ByteView signature_der,
                                                  const std::vector<Bytes>& trusted_cas);
// The same with the content streamed from an open file (`content_fd`, from offset 0; see the
// file form of cms_sign_detached).
[[nodiscard]] CmsVerification cms_verify_detached(Context& context, int content_fd, ByteView signature_der,
                                                  const std::vector<Bytes>& trusted_cas);

}  // namespace jpki::crypto
