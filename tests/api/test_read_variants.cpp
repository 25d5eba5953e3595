// Issue 11: whole certificate files in one READ BINARY where the card and reader allow it, and
// the same objects whatever they allow. Each variant of the virtual card (short EF identifiers,
// extended Le, a reader refusing extended APDUs) must give the same certificate bytes; the trace
// shows the form used and that each refused form was tried once per card (docs/card.md
// "Longer reads, fewer APDUs").
#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

using namespace apitest;

namespace {

struct Variant {
    const char* name;
    bool short_ef_id;
    bool extended;
    bool reader_extended;
};

constexpr Variant variants[] = {
    {"both", true, true, true},
    {"short EF id refused (6A86)", false, true, true},
    {"extended Le refused (6700)", true, false, true},
    {"both refused", false, false, true},
    {"reader without extended APDUs", true, true, false},
};

}  // namespace

TEST_CASE("every card and reader variant gives the same certificates", "[objects][read-variants]") {
    for (const Variant& v : variants) {
        CAPTURE(v.name);
        Fixture f(one_card([&](CardConfig& c) {
            c.short_ef_id = v.short_ef_id;
            c.extended_apdu = v.extended;
            c.reader_extended = v.reader_extended;
        }));
        const CK_SESSION_HANDLE auth = f.open(auth_slot);
        CHECK(f.attribute(auth, f.find_one(auth, CKO_CERTIFICATE, 0x01), CKA_VALUE) == pki_file("auth-cert.der"));
        CHECK(f.attribute(auth, f.find_one(auth, CKO_CERTIFICATE, 0x03), CKA_VALUE) == pki_file("auth-ca.der"));
        const CK_SESSION_HANDLE sign = f.open(sign_slot);
        f.login(sign, sign_pin);
        CHECK(f.attribute(sign, f.find_one(sign, CKO_CERTIFICATE, 0x02), CKA_VALUE) == pki_file("sign-cert.der"));
        CHECK(f.attribute(sign, f.find_one(sign, CKO_CERTIFICATE, 0x04), CKA_VALUE) == pki_file("sign-ca.der"));

        const auto apdus = f.apdus();
        const bool whole_by_sfi = v.short_ef_id && v.extended && v.reader_extended;
        const bool whole_after_select = !v.short_ef_id && v.extended && v.reader_extended;
        INFO("trace: " << apdus.size() << " APDUs");
        // The authentication certificate, EF 000A / SFI 0A.
        CHECK((count_prefix(apdus, "00B08A00000000 9000") == 1) == whole_by_sfi);
        CHECK((count_prefix(apdus, "00A4020C02000A") == 0) == whole_by_sfi);
        CHECK((count_prefix(apdus, "00B00000000000 9000") > 0) == whole_after_select);
        // Refused forms: each tried once for the whole session, never again (learnt per card).
        CHECK(refused_reads(apdus) == static_cast<std::size_t>(!v.short_ef_id) + static_cast<std::size_t>(!v.extended));
        // A reader that refuses: the card never sees an extended APDU.
        if (!v.reader_extended) CHECK(std::none_of(apdus.begin(), apdus.end(), [](const std::string& l) {
            return l.starts_with("00B0") && l.find(' ') == 14;
        }));
        WARN(v.name << ": " << apdus.size() << " APDUs (two tokens listed, four certificates read, one login)");
    }
}
