// Issue 11: the READ BINARY forms a card refused are remembered across processes in the
// per-user cache (src/cache/card_cache.hpp), so a card refusing both the short EF identifier and
// the extended Le costs its two refused READ BINARYs once per card model and reader, not once
// per process; and a recorded "works" that does not hold for the card at hand never makes a read
// fail, and is corrected.
#include "fixture.hpp"

#include "cache/card_cache.hpp"
#include "crypto/context.hpp"

#include <catch2/catch.hpp>

#include <ostream>

#include <string>

// Catch prints facts as short_ef_id/extended, e.g. "{no, yes}".
namespace jpki::cache {
inline std::ostream& operator<<(std::ostream& out, Fact fact) {
    return out << (fact == Fact::Yes ? "yes" : fact == Fact::No ? "no" : "unknown");
}
inline std::ostream& operator<<(std::ostream& out, const ReadForms& forms) {
    return out << '{' << forms.short_ef_id << ", " << forms.extended << '}';
}
}  // namespace jpki::cache

using namespace apitest;

namespace {

Setup both_refused(const std::map<std::string, std::string>& env) {
    Setup setup = one_card([](CardConfig& c) {
        c.short_ef_id = false;
        c.extended_apdu = false;
    });
    setup.env = env;
    return setup;
}

// What the first process does with the card: the auth token's two certificates.
void read_auth_certificates(Fixture& f) {
    const CK_SESSION_HANDLE s = f.open(auth_slot);
    CHECK(f.attribute(s, f.find_one(s, CKO_CERTIFICATE, id_auth), CKA_VALUE) == pki_file("auth-cert.der"));
    CHECK(f.attribute(s, f.find_one(s, CKO_CERTIFICATE, id_auth_ca), CKA_VALUE) == pki_file("auth-ca.der"));
}

}  // namespace

TEST_CASE("read forms: a card refusing both costs its refused READ BINARYs in the first process only",
          "[objects][read-variants][cache][trace]") {
    TempDir cache;
    const std::map<std::string, std::string> shared = {{"XDG_CACHE_HOME", cache.path().string()}};
    {
        Fixture first(both_refused(shared));
        read_auth_certificates(first);
        CHECK(refused_reads(first.apdus()) == 2);  // learnt here: SFI (probe), extended Le (certificate)
    }
    Fixture second(both_refused(shared));
    read_auth_certificates(second);
    const auto apdus = second.apdus();
    INFO("second process: " << apdus.size() << " APDUs");
    CHECK(refused_reads(apdus) == 0);
}

TEST_CASE("read forms: a recorded 'works' the card refuses still reads, and the record is corrected",
          "[objects][read-variants][cache][trace]") {
    TempDir cache;
    const std::map<std::string, std::string> shared = {{"XDG_CACHE_HOME", cache.path().string()}};
    jpki::crypto::Context crypto;
    const std::filesystem::path folder = cache.path() / "jpki-pkcs11";
    Bytes atr;
    std::string reader;
    {
        // The same card model in the same reader, once seen taking both forms.
        Fixture first(both_refused(shared));
        atr = first.card()->atr();
        reader = first.reader();
    }
    jpki::cache::CardCache(crypto, folder, {}).set_read_forms(
        reader, atr, {jpki::cache::Fact::Yes, jpki::cache::Fact::Yes});
    {
        Fixture second(both_refused(shared));
        read_auth_certificates(second);  // the same bytes as ever: the reads fell back
        CHECK(refused_reads(second.apdus()) == 2);
    }
    const jpki::cache::ReadForms corrected = jpki::cache::CardCache(crypto, folder, {}).read_forms(reader, atr);
    CHECK(corrected == jpki::cache::ReadForms{jpki::cache::Fact::No, jpki::cache::Fact::No});
    Fixture third(both_refused(shared));
    read_auth_certificates(third);
    CHECK(refused_reads(third.apdus()) == 0);
}

TEST_CASE("read forms: a record of both forms working is corrected to what each card variant takes",
          "[objects][read-variants][cache][trace]") {
    using jpki::cache::Fact;
    struct Case {
        const char* name;
        bool short_ef_id, extended, reader_extended;
        jpki::cache::ReadForms truth;
    };
    const Case cases[] = {
        {"short EF id refused", false, true, true, {Fact::No, Fact::Yes}},
        {"extended Le refused", true, false, true, {Fact::Yes, Fact::No}},
        {"reader without extended APDUs", true, true, false, {Fact::Yes, Fact::No}},
    };
    for (const Case& c : cases) {
        CAPTURE(c.name);
        TempDir cache;
        const std::map<std::string, std::string> shared = {{"XDG_CACHE_HOME", cache.path().string()}};
        jpki::crypto::Context crypto;
        const std::filesystem::path folder = cache.path() / "jpki-pkcs11";
        Setup setup = one_card([&](CardConfig& config) {
            config.short_ef_id = c.short_ef_id;
            config.extended_apdu = c.extended;
            config.reader_extended = c.reader_extended;
        });
        setup.env = shared;
        Bytes atr;
        std::string reader;
        {
            Fixture f(setup);
            atr = f.card()->atr();
            reader = f.reader();
        }
        jpki::cache::CardCache(crypto, folder, {}).set_read_forms(reader, atr, {Fact::Yes, Fact::Yes});
        {
            Fixture f(setup);
            read_auth_certificates(f);
            const CK_SESSION_HANDLE s = f.open(sign_slot);
            f.login(s, sign_pin);
            CHECK(f.attribute(s, f.find_one(s, CKO_CERTIFICATE, id_sign), CKA_VALUE) == pki_file("sign-cert.der"));
        }
        CHECK(jpki::cache::CardCache(crypto, folder, {}).read_forms(reader, atr) == c.truth);
    }
}
