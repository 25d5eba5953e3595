// The module against a hostile card (CardConfig::hostile, issue 7 "Fuzzing"): truncated,
// oversized and nonsense answers and wrong status words, deterministic per seed. For every
// seed, a normal application flow on both slots (slot list, token info, session, objects and
// their attributes, login, signature, logout) must answer each call with a CK_RV from a small
// set of clear errors: never CKR_GENERAL_ERROR, never a crash or a hang. A signature returned
// with CKR_OK must verify with the card's real certificate, and no PIN try may be lost (the
// module only ever sends the right PINs).
#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <map>
#include <set>
#include <sstream>

using namespace apitest;
using jpki::vcard::HostileMode;

namespace {

// What a call may answer when the card misbehaves: clear errors, from each function's list in
// PKCS#11 2.40 §5. PIN answers only from C_Login, which sends a PIN: a PIN status word (63Cx,
// 6983, 6984) to any other command is a malformed answer, not news about the PIN.
const std::set<CK_RV> kAllowed = {
    CKR_OK,
    CKR_DEVICE_ERROR,            // the card's answer was malformed or an unexpected status word
    CKR_DEVICE_REMOVED,          // the card looked gone
    CKR_TOKEN_NOT_PRESENT,       // the probe found no usable JPKI card
    CKR_TOKEN_NOT_RECOGNIZED,
    CKR_USER_NOT_LOGGED_IN,      // 6982, or the security state was lost
    CKR_SESSION_HANDLE_INVALID,  // a session closed because the card looked removed
    CKR_OBJECT_HANDLE_INVALID,
    CKR_KEY_HANDLE_INVALID,
};
const std::set<CK_RV> kAllowedLogin = {
    CKR_PIN_INCORRECT,             // 63Cx on the VERIFY
    CKR_PIN_LOCKED,                // 63C0 / 6984, or the final-try guard on 63C1
    CKR_USER_PIN_NOT_INITIALIZED,  // EF 0008 / EF 0001 answered as an under-15 card's: no sign PIN
};
const std::set<CK_RV> kAllowedSign = {
    CKR_DATA_LEN_RANGE,     // 6700 / 6985 on the signature
    CKR_MECHANISM_INVALID,  // 6A86 / 6D00 / 6E00 on the signature (how PSS is refused)
};

std::string rv_text(CK_RV rv) {
    std::ostringstream out;
    out << "0x" << std::hex << rv;
    return out.str();
}

const char* mode_name(HostileMode mode) {
    switch (mode) {
    case HostileMode::Truncated: return "truncated";
    case HostileMode::Oversized: return "oversized";
    case HostileMode::Nonsense: return "nonsense";
    case HostileMode::WrongSw: return "wrong-sw";
    case HostileMode::Random: return "random";
    case HostileMode::Off: break;
    }
    return "off";
}

struct Tally {
    std::size_t calls = 0;
    std::size_t ok = 0;
    std::size_t signatures = 0;
    std::map<CK_RV, std::size_t> answers;
};

// Records one answer; a disallowed one fails the test with the call's name.
CK_RV note(Tally& tally, const char* call, CK_RV rv, const std::set<CK_RV>& also = {}) {
    ++tally.calls;
    ++tally.answers[rv];
    if (rv == CKR_OK) ++tally.ok;
    INFO(call << " answered " << rv_text(rv));
    CHECK((kAllowed.contains(rv) || also.contains(rv)));
    return rv;
}

struct Slot {
    CK_SLOT_ID id;
    const char* pin;
    const char* certificate;
};

void one_flow(Fixture& f, Tally& tally, const Slot& slot) {
    CK_FUNCTION_LIST* p11 = f.p11;
    CK_ULONG count = 0;
    note(tally, "C_GetSlotList", p11->C_GetSlotList(CK_TRUE, nullptr, &count));
    CK_TOKEN_INFO info{};
    note(tally, "C_GetTokenInfo", p11->C_GetTokenInfo(slot.id, &info));
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    if (note(tally, "C_OpenSession", p11->C_OpenSession(slot.id, CKF_SERIAL_SESSION, nullptr, nullptr, &session)) != CKR_OK)
        return;
    // Every object and three attributes of each, as NSS lists a token.
    std::vector<CK_OBJECT_HANDLE> objects(32);
    CK_ULONG found = 0;
    if (note(tally, "C_FindObjectsInit", p11->C_FindObjectsInit(session, nullptr, 0)) == CKR_OK) {
        note(tally, "C_FindObjects", p11->C_FindObjects(session, objects.data(), objects.size(), &found));
        note(tally, "C_FindObjectsFinal", p11->C_FindObjectsFinal(session));
    }
    objects.resize(found);
    for (const CK_OBJECT_HANDLE object : objects) {
        for (const CK_ATTRIBUTE_TYPE type : {CKA_LABEL, CKA_VALUE, CKA_MODULUS}) {
            CK_ATTRIBUTE attribute{type, nullptr, 0};
            const CK_RV rv = p11->C_GetAttributeValue(session, object, &attribute, 1);
            // Asking for an attribute an object does not have is the application's doing.
            if (rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_ATTRIBUTE_SENSITIVE)
                note(tally, "C_GetAttributeValue", rv);
        }
    }
    const CK_RV login = note(tally, "C_Login",
                             p11->C_Login(session, CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(slot.pin)),
                                          std::strlen(slot.pin)),
                             kAllowedLogin);
    if (login == CKR_OK || login == CKR_USER_ALREADY_LOGGED_IN) {
        CK_OBJECT_CLASS key_class = CKO_PRIVATE_KEY;
        CK_ATTRIBUTE match{CKA_CLASS, &key_class, sizeof key_class};
        CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
        CK_ULONG keys = 0;
        if (note(tally, "C_FindObjectsInit", p11->C_FindObjectsInit(session, &match, 1)) == CKR_OK) {
            note(tally, "C_FindObjects", p11->C_FindObjects(session, &key, 1, &keys));
            note(tally, "C_FindObjectsFinal", p11->C_FindObjectsFinal(session));
        }
        if (keys == 1) {
            const Bytes message = bytes_of("hostile card, honest signature");
            CK_MECHANISM mechanism{CKM_SHA256_RSA_PKCS, nullptr, 0};
            if (note(tally, "C_SignInit", p11->C_SignInit(session, &mechanism, key), kAllowedSign) == CKR_OK) {
                Bytes signature(512);
                CK_ULONG length = signature.size();
                if (note(tally, "C_Sign", p11->C_Sign(session, const_cast<CK_BYTE*>(message.data()), message.size(),
                                                      signature.data(), &length),
                         kAllowedSign) == CKR_OK) {
                    signature.resize(length);
                    ++tally.signatures;
                    INFO("slot " << slot.id);
                    CHECK(openssl_verifies(pki_file(slot.certificate), CKM_SHA256_RSA_PKCS, message, signature));
                }
            }
        }
        note(tally, "C_Logout", p11->C_Logout(session));
    }
    note(tally, "C_CloseSession", p11->C_CloseSession(session));
}

void run_seeds(HostileMode mode, std::uint64_t first, std::uint64_t last, int percent) {
    Tally tally;
    for (std::uint64_t seed = first; seed <= last; ++seed) {
        INFO("hostile mode " << mode_name(mode) << " seed " << seed << " percent " << percent);
        Fixture f(one_card([&](CardConfig& c) { c.hostile = {mode, seed, percent}; }));
        // Twice per slot: the second round meets what the first left (cached certificates,
        // counters, a card the module gave up on).
        for (int round = 0; round < 2; ++round) {
            one_flow(f, tally, {auth_slot, auth_pin, "auth-cert.der"});
            one_flow(f, tally, {sign_slot, sign_pin, "sign-cert.der"});
        }
        // Only right PINs went out: the card's real counters are untouched.
        CHECK(f.card()->tries_left(Pin::Auth) == 3);
        CHECK(f.card()->tries_left(Pin::Sign) == 5);
    }
    std::ostringstream answers;
    for (const auto& [rv, n] : tally.answers) answers << ' ' << rv_text(rv) << ':' << n;
    WARN("hostile mode " << mode_name(mode) << ", seeds " << first << ".." << last << " at " << percent
                         << "%: " << tally.calls << " calls, " << tally.ok << " CKR_OK, " << tally.signatures
                         << " signatures (all verified); CK_RV:count" << answers.str());
}

}  // namespace

// Per mode: seeds 1..200 with 20 % of the answers spoiled (the flow gets far), 1..100 with 50 %,
// 1..50 with 100 % (nothing is sane).
TEST_CASE("hostile card: truncated answers", "[hostile]") {
    run_seeds(HostileMode::Truncated, 1, 200, 20);
    run_seeds(HostileMode::Truncated, 1, 100, 50);
    run_seeds(HostileMode::Truncated, 1, 50, 100);
}

TEST_CASE("hostile card: oversized answers", "[hostile]") {
    run_seeds(HostileMode::Oversized, 1, 200, 20);
    run_seeds(HostileMode::Oversized, 1, 100, 50);
    run_seeds(HostileMode::Oversized, 1, 50, 100);
}

TEST_CASE("hostile card: nonsense answers", "[hostile]") {
    run_seeds(HostileMode::Nonsense, 1, 200, 20);
    run_seeds(HostileMode::Nonsense, 1, 100, 50);
    run_seeds(HostileMode::Nonsense, 1, 50, 100);
}

TEST_CASE("hostile card: wrong status words", "[hostile]") {
    run_seeds(HostileMode::WrongSw, 1, 200, 20);
    run_seeds(HostileMode::WrongSw, 1, 100, 50);
    run_seeds(HostileMode::WrongSw, 1, 50, 100);
}

TEST_CASE("hostile card: a mix of everything", "[hostile]") {
    run_seeds(HostileMode::Random, 1, 200, 20);
    run_seeds(HostileMode::Random, 1, 100, 50);
    run_seeds(HostileMode::Random, 1, 50, 100);
}
