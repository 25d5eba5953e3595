#include "card/pss_proof.hpp"

#include <stdexcept>

namespace jpki::card {

PssProof prove_pss(JpkiApplet& applet, PinRole key, std::span<const std::uint8_t> hash,
                   const std::function<bool(std::span<const std::uint8_t>, std::span<const std::uint8_t>)>& verifies) {
    if (hash.size() != pss_hash_length) throw std::invalid_argument("the PSS proof signs a 32-byte hash");
    try {
        const Bytes signature = applet.sign_pss_sha256(key, hash);
        return verifies(hash, signature) ? PssProof::Proven : PssProof::NotVerified;
    } catch (const CardError& error) {
        using Kind = CardError::Kind;
        // What a card without P1 04 may answer (ISO 7816-4 §5.6: wrong P1-P2, function or
        // instruction not supported, wrong length); a lost login or a transport fault teaches
        // nothing and goes up.
        const bool refused = error.kind() == Kind::FunctionNotSupported || error.kind() == Kind::WrongLength ||
                             (error.kind() == Kind::CardError &&
                              (error.sw() == 0x6B00 || error.sw() == 0x6A80 || error.sw() == 0x6A81));
        if (refused) return PssProof::Refused;
        throw;
    }
}

}  // namespace jpki::card
