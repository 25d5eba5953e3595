// The signing mechanisms (docs/design.md §3 "Mechanisms"), one row each: its PKCS#11 type and
// parameter, what the host computes from the caller's data, what the card is sent (COMPUTE
// DIGITAL SIGNATURE P1 00 or 04, docs/card.md "Sign") and how a result is checked. A sign or
// verify operation keeps a pointer to its row; nothing else switches on a CKM_*.
// - PKCS#1 v1.5: the card pads (type 1) whatever 1..245 bytes it gets, so CKM_RSA_PKCS passes
//   the data through and CKM_SHAx_RSA_PKCS hashes on the host and sends the DER DigestInfo [HW].
// - RSA-PSS: the card signs RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32) over a 32-byte hash with
//   P1 04 [ONE]; offered only where the card has proven it (issue 12, docs/design.md §6).
#pragma once

#include "card/commands.hpp"
#include "card/profile.hpp"
#include "crypto/context.hpp"
#include "crypto/digest.hpp"
#include "crypto/rsa.hpp"
#include "jpki/pkcs11.hpp"
#include "jpki/transport.hpp"

#include <array>
#include <cstddef>
#include <optional>
#include <span>

namespace jpki::token {

struct SignMechanism {
    // What CK_MECHANISM.pParameter must be: nothing (PKCS#11 2.40 §2.1.6, §2.1.14), or a
    // CK_RSA_PKCS_PSS_PARAMS naming exactly what the card does (§2.1.10-11): SHA-256,
    // MGF1-SHA-256, a 32-byte salt; anything else is CKR_MECHANISM_PARAM_INVALID.
    enum class Parameter : std::uint8_t { None, PssSha256Salt32 };

    CK_MECHANISM_TYPE type;
    Parameter parameter;
    // The host hashes the caller's data with this (CKM_SHAx_*); nullopt: the data goes as it is.
    std::optional<crypto::DigestAlgorithm> host_digest;
    // PKCS#1 v1.5: a host hash goes to the card as its DER DigestInfo; PSS: as the bare hash.
    // Without a host digest the data goes as it is, within the limits the card profile gives
    // for this format and key (card/profile.hpp SignatureFormatSpec).
    card::command::SignatureFormat card_format;

    [[nodiscard]] bool needs_pss() const noexcept { return card_format == card::command::SignatureFormat::PssSha256; }
};

// The rows, in the order C_GetMechanismList reports them.
std::span<const SignMechanism> sign_mechanisms();
// The row of `type`; Error(CKR_MECHANISM_INVALID) when the module has none.
const SignMechanism& sign_mechanism(CK_MECHANISM_TYPE type);
// The row's CK_MECHANISM_INFO for the key (the card signs; CKF_VERIFY is not claimed: C_Verify
// exists in software but is not what the token offers).
CK_MECHANISM_INFO mechanism_info(const SignMechanism& mechanism, const card::CardKey& key);
// Whether `signature` is the card's signature of `card_input` (what card_input() gave) under
// `key`, by the row's signature scheme. Throws crypto::Error only when OpenSSL cannot work.
bool verifies(crypto::Context& context, const SignMechanism& mechanism, const crypto::RsaPublicKey& key,
              std::span<const std::uint8_t> card_input, std::span<const std::uint8_t> signature);

// One C_SignInit..C_Sign/C_SignFinal (or the C_Verify* twin): checks the mechanism's parameter,
// collects the data, single- or multi-part, and yields the bytes the card works on.
class DataCollector {
public:
    // `key`: the card profile's row for the key that signs (its formats and their input limits).
    // Error(CKR_MECHANISM_INVALID) for a mechanism the module lacks or a format the key's card
    // never takes, CKR_MECHANISM_PARAM_INVALID for a parameter the row does not take.
    DataCollector(crypto::Context& context, const CK_MECHANISM& mechanism, const card::RoleProfile& key);

    [[nodiscard]] const SignMechanism& mechanism() const { return *mechanism_; }
    void update(std::span<const std::uint8_t> part);
    // The card's input for the collected data: the data itself (within the row's limits, else
    // Error(CKR_DATA_LEN_RANGE)), or the DigestInfo or bare hash of its digest. Ends the collection.
    Bytes card_input();
    // Whether C_SignUpdate/C_VerifyUpdate started (then the single-part call is refused).
    [[nodiscard]] bool multi_part() const { return multi_part_; }

private:
    const SignMechanism* mechanism_;
    const card::SignatureFormatSpec* format_;  // the card's limits for the row's format
    std::optional<crypto::Digest> running_digest_;
    Bytes buffered_;  // no host digest: the data, never more than the format's max_input kept
    bool multi_part_ = false;
    bool too_long_ = false;
};

}  // namespace jpki::token
