// The card profile table (card/profile.hpp) and the token's object rows (token/objects.hpp)
// are data: these checks keep a row from contradicting docs/card.md or another row, so a new
// profile (docs/design.md §6) is checked the same way when it is added to `profiles`.
#include "card/profile.hpp"
#include "token/objects.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <set>
#include <vector>

namespace {

using jpki::card::CardProfile;
using jpki::card::PinRole;
using jpki::card::ReadableFile;
using jpki::card::RoleProfile;
namespace card = jpki::card;
namespace token = jpki::token;

constexpr std::array<const CardProfile*, 1> profiles = {&card::jpki_card_profile};

std::vector<ReadableFile> readable_files(const CardProfile& profile) {
    std::vector<ReadableFile> files{profile.token_info, profile.certificate_flags};
    for (const RoleProfile& role : profile.roles) {
        files.push_back(role.certificate);
        files.push_back(role.ca_certificate);
    }
    return files;
}

}  // namespace

TEST_CASE("card profile: each role's row is at its PinRole's index", "[card][profile]") {
    for (const CardProfile* profile : profiles) {
        CHECK(profile->role(PinRole::Auth).role == PinRole::Auth);
        CHECK(profile->role(PinRole::Sign).role == PinRole::Sign);
    }
}

TEST_CASE("card profile: every file is a different EF", "[card][profile]") {
    for (const CardProfile* profile : profiles) {
        std::vector<card::Fid> fids;
        for (const ReadableFile& file : readable_files(*profile)) fids.push_back(file.fid);
        for (const RoleProfile& role : profile->roles) {
            fids.push_back(role.pin_fid);
            fids.push_back(role.key.fid);
        }
        CHECK(std::set<card::Fid>(fids.begin(), fids.end()).size() == fids.size());
    }
}

TEST_CASE("card profile: a file's short EF identifier is its EF number", "[card][profile]") {
    // docs/card.md "Longer reads": SFI = the EF number, 1..30 (5 bits, ISO 7816-4).
    for (const CardProfile* profile : profiles) {
        for (const ReadableFile& file : readable_files(*profile)) {
            INFO("EF " << file.fid);
            CHECK(file.sfi == (file.fid & 0x1F));
            CHECK(file.sfi >= 1);
            CHECK(file.sfi <= 30);
            CHECK(file.max_size >= 1);
            CHECK(file.max_size <= card::max_certificate_size);  // READ BINARY offsets stop at 7FFF
        }
        CHECK(profile->token_label_length <= profile->token_info.max_size);
        CHECK(profile->aid.size() >= 5);  // ISO 7816-4 AID: 5..16 bytes
        CHECK(profile->aid.size() <= 16);
    }
}

TEST_CASE("card profile: certificate flags name each role's certificate", "[card][profile]") {
    for (const CardProfile* profile : profiles) {
        const RoleProfile& auth = profile->role(PinRole::Auth);
        const RoleProfile& sign = profile->role(PinRole::Sign);
        CHECK(auth.certificate_flag != sign.certificate_flag);
        CHECK(auth.certificate_flag < profile->certificate_flags.max_size);
        CHECK(sign.certificate_flag < profile->certificate_flags.max_size);
        for (const RoleProfile& role : profile->roles) {
            CHECK(profile->certificate_file(role.certificate.fid) == &role.certificate);
            CHECK(profile->certificate_file(role.ca_certificate.fid) == &role.ca_certificate);
            CHECK(profile->certificate_file(role.key.fid) == nullptr);
            CHECK(role.ca_certificate.access == card::ReadAccess::Free);  // issuers are public
        }
    }
}

TEST_CASE("card profile: PIN rules are coherent", "[card][profile]") {
    for (const CardProfile* profile : profiles) {
        for (const RoleProfile& role : profile->roles) {
            CHECK(role.pin.min_length >= 1);
            CHECK(role.pin.min_length <= role.pin.max_length);
            CHECK(role.pin.max_tries >= 1);
            CHECK(role.pin.max_tries <= 15);  // the counter is the x of 63Cx
            // Upper-casing letters means nothing for a digits-only PIN.
            if (role.pin.alphabet == card::PinAlphabet::Digits) CHECK_FALSE(role.pin.upper_cases_letters);
        }
    }
}

TEST_CASE("card profile: signature formats fit the key", "[card][profile]") {
    using card::command::SignatureFormat;
    for (const CardProfile* profile : profiles) {
        for (const RoleProfile& role : profile->roles) {
            CHECK_FALSE(role.signature_formats.empty());
            std::set<SignatureFormat> seen;
            for (const card::SignatureFormatSpec& spec : role.signature_formats) {
                CHECK(seen.insert(spec.format).second);
                CHECK(spec.min_input >= 1);
                CHECK(spec.min_input <= spec.max_input);
                CHECK(role.signature_format(spec.format) == &spec);
                if (role.key.algorithm != card::KeyAlgorithm::Rsa) continue;
                if (spec.format == SignatureFormat::Pkcs1V15) {
                    // RFC 8017 §9.2: PKCS#1 v1.5 type-1 padding takes 11 of the modulus's bytes.
                    CHECK(spec.max_input == role.key.bits / 8 - 11);
                    CHECK(spec.support == card::FormatSupport::EveryCard);  // [HW]
                }
                if (spec.format == SignatureFormat::PssSha256) {
                    CHECK(spec.min_input == 32);  // one SHA-256 hash
                    CHECK(spec.max_input == 32);
                    CHECK(spec.support == card::FormatSupport::ProvenPerCard);  // [ONE]: issue 12
                }
            }
        }
    }
}

TEST_CASE("card profile: the JPKI card is what docs/card.md says", "[card][profile]") {
    const CardProfile& jpki = card::jpki_card_profile;
    CHECK(std::ranges::equal(jpki.aid, std::array<std::uint8_t, 10>{0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00,
                                                                      0x00, 0x01}));
    const RoleProfile& auth = jpki.role(PinRole::Auth);
    const RoleProfile& sign = jpki.role(PinRole::Sign);
    CHECK(auth.key.algorithm == card::KeyAlgorithm::Rsa);
    CHECK(auth.key.bits == 2048);
    CHECK(sign.key.bits == 2048);
    CHECK(auth.certificate.access == card::ReadAccess::Free);
    CHECK(sign.certificate.access == card::ReadAccess::AfterPin);  // EF 0001: 6982 before the password
}

TEST_CASE("object rows: each role's objects agree with its card files", "[token][objects][profile]") {
    const CardProfile& profile = card::jpki_card_profile;
    for (const PinRole role : {PinRole::Auth, PinRole::Sign}) {
        INFO("role " << static_cast<int>(role));
        const RoleProfile& files = profile.role(role);
        int private_keys = 0;
        std::set<std::uint8_t> certificate_ids;
        std::set<std::uint8_t> ca_ids;
        for (const token::ObjectRow& row : token::object_rows) {
            if (row.role != role) continue;
            INFO(row.label);
            if (row.from == token::ObjectSource::None) {
                CHECK(row.cls == CKO_PROFILE);
                continue;
            }
            CHECK_FALSE(row.label.empty());
            if (row.cls == CKO_PRIVATE_KEY) {
                ++private_keys;
                CHECK(row.visible == token::Visibility::AfterLogin);  // CKA_PRIVATE
            }
            // An object listed before login must not need a file that needs the PIN.
            const ReadableFile& file =
                row.from == token::ObjectSource::CaCertificate ? files.ca_certificate : files.certificate;
            if (file.access == card::ReadAccess::AfterPin) CHECK(row.visible == token::Visibility::AfterLogin);
            if (row.from == token::ObjectSource::CaCertificate) {
                CHECK(row.cls == CKO_CERTIFICATE);
                ca_ids.insert(row.id);
            } else {
                certificate_ids.insert(row.id);  // a certificate and its keys share their CKA_ID
            }
        }
        CHECK(private_keys == 1);
        CHECK(certificate_ids.size() == 1);
        CHECK(ca_ids.size() == 1);
        CHECK(*certificate_ids.begin() != *ca_ids.begin());
    }
    // No CKA_ID names objects of both tokens.
    for (const token::ObjectRow& a : token::object_rows)
        for (const token::ObjectRow& b : token::object_rows)
            if (a.role != b.role && a.from != token::ObjectSource::None && b.from != token::ObjectSource::None)
                CHECK(a.id != b.id);
}
