// The signing mechanisms (docs/design.md §3 "Mechanisms") and what each turns the caller's data
// into before it reaches the card: the card pads (PKCS#1 v1.5 type 1) whatever 1..245 bytes it
// gets, so CKM_RSA_PKCS passes the data through and CKM_SHAx_RSA_PKCS hashes on the host and
// sends the DER DigestInfo.
#pragma once

#include "crypto/context.hpp"
#include "crypto/digest.hpp"
#include "jpki/pkcs11.hpp"
#include "jpki/transport.hpp"
#include "token/objects.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace jpki::token {

constexpr std::size_t kRsaBits = 2048;
constexpr std::size_t kSignatureSize = kRsaBits / 8;
// PKCS#1 v1.5 type 1 needs 11 bytes of the 256: the card takes at most 245 (docs/card.md).
constexpr std::size_t kMaxCardInput = kSignatureSize - 11;

// Mechanisms in the order C_GetMechanismList reports them.
const std::vector<CK_MECHANISM_TYPE>& sign_mechanisms();
// nullopt: CKM_RSA_PKCS (no host hash); a digest: CKM_SHAx_RSA_PKCS. Throws Error(CKR_MECHANISM_INVALID).
std::optional<crypto::DigestAlgorithm> digest_of(CK_MECHANISM_TYPE mechanism);
CK_MECHANISM_INFO mechanism_info(CK_MECHANISM_TYPE mechanism);

// One C_SignInit..C_Sign/C_SignFinal (or the C_Verify* twin): collects the data, single- or
// multi-part, and yields the bytes the RSA operation works on.
class DataCollector {
public:
    DataCollector(crypto::Context& context, const CK_MECHANISM& mechanism);

    [[nodiscard]] CK_MECHANISM_TYPE mechanism() const { return mechanism_; }
    [[nodiscard]] std::optional<crypto::DigestAlgorithm> digest_algorithm() const { return digest_; }
    void update(std::span<const std::uint8_t> part);
    // The card's input for the collected data: the data itself (CKM_RSA_PKCS, 1..245 bytes,
    // else Error(CKR_DATA_LEN_RANGE)) or the DigestInfo of its hash. Ends the collection.
    Bytes card_input();
    // Whether C_SignUpdate/C_VerifyUpdate started (then the single-part call is refused).
    [[nodiscard]] bool multi_part() const { return multi_part_; }

private:
    CK_MECHANISM_TYPE mechanism_;
    std::optional<crypto::DigestAlgorithm> digest_;
    std::optional<crypto::Digest> running_digest_;
    Bytes buffered_;  // CKM_RSA_PKCS: the data to pad, never more than 245 bytes kept
    bool multi_part_ = false;
    bool too_long_ = false;
};

}  // namespace jpki::token
