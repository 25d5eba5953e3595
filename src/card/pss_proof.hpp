// The RSA-PSS proof of docs/design.md §6 (issue 12): does this card's key sign RSASSA-PSS with
// COMPUTE DIGITAL SIGNATURE P1 04? One public survey says so [ONE]; nothing else does, so a card
// is believed only once it has produced such a signature that verifies under its certificate.
// Shared by the module (after a login, `pss = auto`) and `jpki pss probe`.
#pragma once

#include "card/jpki_applet.hpp"

#include <functional>
#include <span>

namespace jpki::card {

// Proven: the card signed and the signature verified. Refused: the card answered that it does not
// take P1 04 (the only outcome remembered as "no"). NotVerified: the card answered a signature
// that does not verify: a garbled answer proves nothing either way, so nothing is remembered.
enum class PssProof { Proven, Refused, NotVerified };

// One COMPUTE DIGITAL SIGNATURE P1 04 with the key of `key` over `hash` (32 bytes: a random
// value, so the signature means nothing), the key's PIN already verified by the caller: no PIN
// is sent and no try spent.
// Proven: the card answered a signature and `verifies(hash, signature)` accepts it (RSASSA-PSS,
// SHA-256, MGF1-SHA-256, salt 32). Refused: the card answered 6A86/6D00/6E00
// (FunctionNotSupported), 6700 (WrongLength), 6B00, 6A80 or 6A81. NotVerified: a signature that
// `verifies` rejects.
// Throws what the sign throws otherwise: SecurityStatusNotSatisfied / SecurityStateLost (no
// login: nothing learnt), transport errors. std::invalid_argument when hash is not 32 bytes.
PssProof prove_pss(JpkiApplet& applet, PinRole key, std::span<const std::uint8_t> hash,
                   const std::function<bool(std::span<const std::uint8_t> hash,
                                            std::span<const std::uint8_t> signature)>& verifies);

}  // namespace jpki::card
