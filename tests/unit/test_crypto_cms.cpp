// src/crypto/cms: detached CMS signatures whose private-key operation is a callback (the card in
// `jpki sign`, a software key of the test PKI here), checked by our verifier and by OpenSSL's own
// CMS_verify with the test CA as the only anchor.
#include "crypto/cms.hpp"
#include "crypto/digest.hpp"
#include "crypto/error.hpp"
#include "test_crypto_support.hpp"

#include <catch2/catch.hpp>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

using namespace jpki;
using namespace jpki::crypto;
using jpki::crypto_test::bytes_of;
using jpki::crypto_test::read_pki_file;
using jpki::crypto_test::sign_pkcs1_raw;

namespace {

// What the card does for `jpki sign`: PKCS#1 v1.5 over the DigestInfo it is given.
DigestInfoSigner software_signer(const std::string& key_pem, int* calls, Bytes* seen = nullptr) {
    return [key_pem, calls, seen](ByteView digest_info) {
        ++*calls;
        if (seen != nullptr) seen->assign(digest_info.begin(), digest_info.end());
        return sign_pkcs1_raw(key_pem, Bytes(digest_info.begin(), digest_info.end()));
    };
}

std::vector<Bytes> ca(const std::string& name) { return {read_pki_file(name)}; }

// OpenSSL's CMS_verify, independent of cms_verify_detached: true when `signature` verifies over
// `content` with `ca_der` as the anchor.
bool openssl_verifies(const Bytes& content, const Bytes& signature, const Bytes& ca_der) {
    const unsigned char* p = signature.data();
    std::unique_ptr<CMS_ContentInfo, decltype(&CMS_ContentInfo_free)> cms(
        d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(signature.size())), CMS_ContentInfo_free);
    if (!cms) return false;
    const unsigned char* q = ca_der.data();
    std::unique_ptr<X509, decltype(&X509_free)> anchor(d2i_X509(nullptr, &q, static_cast<long>(ca_der.size())), X509_free);
    std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
    X509_STORE_add_cert(store.get(), anchor.get());
    X509_STORE_set_purpose(store.get(), X509_PURPOSE_ANY);
    static constexpr char empty = 0;  // BIO_new_mem_buf refuses nullptr, an empty vector's data()
    std::unique_ptr<BIO, decltype(&BIO_free)> data(
        BIO_new_mem_buf(content.empty() ? &empty : static_cast<const void*>(content.data()), static_cast<int>(content.size())),
                                                   BIO_free);
    const int ok = CMS_verify(cms.get(), nullptr, store.get(), data.get(), nullptr, CMS_BINARY);
    ERR_clear_error();
    return ok == 1;
}

}  // namespace

TEST_CASE("crypto: CMS detached signature through a DigestInfo callback", "[crypto][cms]") {
    Context context;
    const Certificate signer(context, read_pki_file("sign-cert.der"));
    const Bytes content = bytes_of("A document to sign.\r\nSecond line, CRLF kept as is.\n");
    int calls = 0;
    Bytes seen;
    const Bytes p7s = cms_sign_detached(context, content, signer, software_signer("sign-key.pem", &calls, &seen));

    CHECK(calls == 1);
    // The callback gets a SHA-256 DigestInfo (not the bare hash, not the attributes).
    REQUIRE(seen.size() == 51);
    CHECK(parse_digest_info(seen) == DigestAlgorithm::Sha256);

    const auto result = cms_verify_detached(context, content, p7s, ca("sign-ca.der"));
    CHECK(result.outcome == CmsVerification::Outcome::Valid);
    REQUIRE(result.signer_certificate);
    CHECK(*result.signer_certificate == signer.der());
    CHECK(result.signing_time.has_value());
    CHECK(openssl_verifies(content, p7s, read_pki_file("sign-ca.der")));

    // Detached, with exactly the three signed attributes and the signer certificate.
    const unsigned char* p = p7s.data();
    std::unique_ptr<CMS_ContentInfo, decltype(&CMS_ContentInfo_free)> cms(
        d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(p7s.size())), CMS_ContentInfo_free);
    REQUIRE(cms);
    CHECK(CMS_is_detached(cms.get()) == 1);
    CMS_SignerInfo* si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms.get()), 0);
    CHECK(CMS_signed_get_attr_count(si) == 3);
    CHECK(CMS_signed_get_attr_by_NID(si, NID_pkcs9_contentType, -1) >= 0);
    CHECK(CMS_signed_get_attr_by_NID(si, NID_pkcs9_messageDigest, -1) >= 0);
    CHECK(CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1) >= 0);
    X509_ALGOR* digest_algorithm = nullptr;
    CMS_SignerInfo_get0_algs(si, nullptr, nullptr, &digest_algorithm, nullptr);
    REQUIRE(digest_algorithm != nullptr);
    const ASN1_OBJECT* oid = nullptr;
    X509_ALGOR_get0(&oid, nullptr, nullptr, digest_algorithm);
    CHECK(OBJ_obj2nid(oid) == NID_sha256);
}

// Issue 8: `jpki sign` of an empty file failed with "BIO_new_mem_buf: passed a null parameter".
TEST_CASE("crypto: CMS signature over empty content", "[crypto][cms]") {
    Context context;
    const Certificate signer(context, read_pki_file("sign-cert.der"));
    const Bytes empty;
    int calls = 0;
    const Bytes p7s = cms_sign_detached(context, empty, signer, software_signer("sign-key.pem", &calls));
    CHECK(calls == 1);
    CHECK(cms_verify_detached(context, empty, p7s, ca("sign-ca.der")).outcome == CmsVerification::Outcome::Valid);
    CHECK(openssl_verifies(empty, p7s, read_pki_file("sign-ca.der")));
    CHECK(cms_verify_detached(context, bytes_of("x"), p7s, ca("sign-ca.der")).outcome ==
          CmsVerification::Outcome::ContentMismatch);
}

// The file form streams the content from a descriptor; the result is the same signature as over
// the bytes, and the descriptor is read from its start whatever its offset.
TEST_CASE("crypto: CMS signature over an open file", "[crypto][cms]") {
    Context context;
    const Certificate signer(context, read_pki_file("sign-cert.der"));
    const Bytes content = bytes_of("A document to sign, from a file.\n");
    const std::unique_ptr<std::FILE, decltype(&std::fclose)> file(std::tmpfile(), std::fclose);
    REQUIRE(file);
    REQUIRE(std::fwrite(content.data(), 1, content.size(), file.get()) == content.size());
    REQUIRE(std::fflush(file.get()) == 0);
    const int fd = fileno(file.get());
    int calls = 0;
    const Bytes p7s = cms_sign_detached(context, fd, signer, software_signer("sign-key.pem", &calls));
    CHECK(calls == 1);
    CHECK(openssl_verifies(content, p7s, read_pki_file("sign-ca.der")));
    CHECK(cms_verify_detached(context, fd, p7s, ca("sign-ca.der")).outcome == CmsVerification::Outcome::Valid);
    CHECK(cms_verify_detached(context, bytes_of("other"), p7s, ca("sign-ca.der")).outcome ==
          CmsVerification::Outcome::ContentMismatch);
}

TEST_CASE("crypto: CMS signature with the authentication key", "[crypto][cms]") {
    Context context;
    const Certificate signer(context, read_pki_file("auth-cert.der"));
    const Bytes content = bytes_of("login");
    int calls = 0;
    const Bytes p7s = cms_sign_detached(context, content, signer, software_signer("auth-key.pem", &calls));
    CHECK(cms_verify_detached(context, content, p7s, ca("auth-ca.der")).outcome == CmsVerification::Outcome::Valid);
    CHECK(openssl_verifies(content, p7s, read_pki_file("auth-ca.der")));
}

TEST_CASE("crypto: CMS verification failures", "[crypto][cms]") {
    Context context;
    const Certificate signer(context, read_pki_file("sign-cert.der"));
    const Bytes content = bytes_of("original");
    int calls = 0;
    const Bytes p7s = cms_sign_detached(context, content, signer, software_signer("sign-key.pem", &calls));

    SECTION("changed content") {
        const auto result = cms_verify_detached(context, bytes_of("originaL"), p7s, ca("sign-ca.der"));
        CHECK(result.outcome == CmsVerification::Outcome::ContentMismatch);
        CHECK(result.signer_certificate == signer.der());
    }
    SECTION("another CA") {
        const auto result = cms_verify_detached(context, content, p7s, ca("auth-ca.der"));
        CHECK(result.outcome == CmsVerification::Outcome::CertificateInvalid);
        CHECK(result.certificate_problem == CmsVerification::CertificateProblem::UnknownIssuer);
    }
    SECTION("no CA at all") {
        CHECK(cms_verify_detached(context, content, p7s, {}).outcome == CmsVerification::Outcome::CertificateInvalid);
    }
    SECTION("corrupt signature file") {
        Bytes broken = p7s;
        broken.resize(broken.size() / 2);
        CHECK(cms_verify_detached(context, content, broken, ca("sign-ca.der")).outcome ==
              CmsVerification::Outcome::Corrupt);
        CHECK(cms_verify_detached(context, content, bytes_of("not a signature"), ca("sign-ca.der")).outcome ==
              CmsVerification::Outcome::Corrupt);
    }
    SECTION("a damaged signature value") {
        // The last bytes of the DER are the end of the RSA signature (no unsigned attributes).
        Bytes damaged = p7s;
        damaged.back() ^= 0x01;
        const auto result = cms_verify_detached(context, content, damaged, ca("sign-ca.der"));
        CHECK(result.outcome == CmsVerification::Outcome::ContentMismatch);
    }
    CHECK(ERR_peek_error() == 0);
}

TEST_CASE("crypto: CMS signer callback failures reach the caller", "[crypto][cms]") {
    Context context;
    const Certificate signer(context, read_pki_file("sign-cert.der"));
    const Bytes content = bytes_of("x");
    SECTION("the callback's exception passes through unchanged") {
        const DigestInfoSigner refusing = [](ByteView) -> Bytes { throw std::domain_error("card removed"); };
        CHECK_THROWS_MATCHES(cms_sign_detached(context, content, signer, refusing), std::domain_error,
                             Catch::Matchers::Message("card removed"));
    }
    SECTION("a signature by a key that is not the certificate's is never returned") {
        // A card whose key does not belong to the certificate read from it.
        int calls = 0;
        CHECK_THROWS_WITH(cms_sign_detached(context, content, signer, software_signer("auth-key.pem", &calls)),
                          Catch::Matchers::Contains("does not verify with the signer certificate's public key"));
        CHECK(calls == 1);
    }
    SECTION("a signature of the wrong length") {
        const DigestInfoSigner short_one = [](ByteView) { return Bytes(16, 0x01); };
        CHECK_THROWS_AS(cms_sign_detached(context, content, signer, short_one), crypto::Error);
    }
    CHECK(ERR_peek_error() == 0);
}

TEST_CASE("crypto: certificates from PEM", "[crypto][cms]") {
    const Bytes pem = read_pki_file("sign-ca.pem");
    const auto certs = certificates_from_pem(std::string(pem.begin(), pem.end()));
    REQUIRE(certs.size() == 1);
    CHECK(certs[0] == read_pki_file("sign-ca.der"));
    CHECK(certificates_from_pem("no PEM here").empty());
}
