// COMPUTE DIGITAL SIGNATURE (docs/card.md, "Sign, P1 = 00" and P1 04).
#include "helpers.hpp"

#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <chrono>
#include <memory>

using namespace vt;

namespace {

struct X509Free { void operator()(X509* x) const { X509_free(x); } };
struct CtxFree { void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); } };

// The public key from the certificate the card itself serves.
std::unique_ptr<X509, X509Free> certificate(const std::string& name) {
    const Bytes der = pki_file(name);
    const unsigned char* p = der.data();
    std::unique_ptr<X509, X509Free> cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    REQUIRE(cert);
    return cert;
}

bool verifies_pkcs1(const std::string& cert_name, const Bytes& data, const Bytes& signature) {
    auto cert = certificate(cert_name);
    std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new(X509_get0_pubkey(cert.get()), nullptr));
    REQUIRE(ctx);
    REQUIRE(EVP_PKEY_verify_init(ctx.get()) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) == 1);
    return EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(), data.data(), data.size()) == 1;
}

bool verifies_pss(const std::string& cert_name, const Bytes& hash, const Bytes& signature) {
    auto cert = certificate(cert_name);
    std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new(X509_get0_pubkey(cert.get()), nullptr));
    REQUIRE(ctx);
    REQUIRE(EVP_PKEY_verify_init(ctx.get()) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) == 1);
    REQUIRE(EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), 32) == 1);  // salt 32 exactly
    return EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(), hash.data(), hash.size()) == 1;
}

Bytes pattern(std::size_t n) {
    Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 7 + 1);
    return b;
}

Bytes sha256_digest_info(const std::string& text) {
    Bytes info = h("3031300D060960864801650304020105000420");
    unsigned char md[32];
    unsigned int len = 0;
    REQUIRE(EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr) == 1);
    info.insert(info.end(), md, md + len);
    return info;
}

}  // namespace

TEST_CASE("Sign P1 00 pads with PKCS#1 v1.5 and signs 1 and 245 bytes with the auth key", "[sign]") {
    auto card = make_card();
    login(*card, Pin::Auth, "1234");
    REQUIRE(run(*card, select_ef(ef_auth_key)) == 0x9000);
    for (const std::size_t n : {std::size_t{1}, std::size_t{245}}) {
        INFO(n << " bytes");
        const Bytes data = pattern(n);
        const Bytes r = card->process(compute_digital_signature(data));
        REQUIRE(sw(r) == 0x9000);
        REQUIRE(body(r).size() == 256);
        CHECK(verifies_pkcs1("auth-cert.der", data, body(r)));
        CHECK_FALSE(verifies_pkcs1("sign-cert.der", data, body(r)));
    }
}

TEST_CASE("Sign P1 00 of a SHA-256 DigestInfo with the sign key verifies", "[sign]") {
    auto card = make_card();
    login(*card, Pin::Sign, "ABC123");
    REQUIRE(run(*card, select_ef(ef_sign_key)) == 0x9000);
    const Bytes info = sha256_digest_info("hello");
    const Bytes r = card->process(compute_digital_signature(info));
    REQUIRE(sw(r) == 0x9000);
    CHECK(verifies_pkcs1("sign-cert.der", info, body(r)));
}

TEST_CASE("Several signatures follow one VERIFY", "[sign]") {
    auto card = make_card();
    login(*card, Pin::Auth, "1234");
    REQUIRE(run(*card, select_ef(ef_auth_key)) == 0x9000);
    for (int i = 0; i < 3; ++i) {
        CHECK(run(*card, compute_digital_signature(pattern(51))) == 0x9000);
    }
}

TEST_CASE("Sign P1 00 with 246 bytes or no data answers 6700", "[sign]") {
    auto card = make_card();
    login(*card, Pin::Auth, "1234");
    REQUIRE(run(*card, select_ef(ef_auth_key)) == 0x9000);
    CHECK(card->process(compute_digital_signature(pattern(246))) == h("6700"));
    CHECK(run(*card, h("802A008000")) == 0x6700);  // case 2: no data
}

TEST_CASE("Sign without Le answers 6700", "[sign]") {
    auto card = make_card();
    login(*card, Pin::Auth, "1234");
    REQUIRE(run(*card, select_ef(ef_auth_key)) == 0x9000);
    CHECK(run(*card, h("802A00800401020304")) == 0x6700);  // case 3
}

TEST_CASE("Signing needs the key's own PIN verified, else 6982", "[sign][pin]") {
    auto card = make_card();
    REQUIRE(run(*card, select_jpki()) == 0x9000);
    REQUIRE(run(*card, select_ef(ef_auth_key)) == 0x9000);
    CHECK(run(*card, compute_digital_signature(pattern(35))) == 0x6982);
    REQUIRE(run(*card, select_ef(ef_sign_key)) == 0x9000);
    CHECK(run(*card, compute_digital_signature(pattern(35))) == 0x6982);
    login(*card, Pin::Auth, "1234");
    REQUIRE(run(*card, select_ef(ef_sign_key)) == 0x9000);
    CHECK(run(*card, compute_digital_signature(pattern(35))) == 0x6982);
    REQUIRE(run(*card, select_ef(ef_auth_key)) == 0x9000);
    CHECK(run(*card, compute_digital_signature(pattern(35))) == 0x9000);
}

TEST_CASE("Signing needs a key EF selected, else 6985", "[sign]") {
    auto card = make_card();
    login(*card, Pin::Auth, "1234");  // current EF is now the PIN EF
    CHECK(run(*card, compute_digital_signature(pattern(35))) == 0x6985);
    REQUIRE(run(*card, select_ef(ef_auth_cert)) == 0x9000);
    CHECK(run(*card, compute_digital_signature(pattern(35))) == 0x6985);
    REQUIRE(run(*card, select_jpki()) == 0x9000);  // no EF at all
    CHECK(run(*card, compute_digital_signature(pattern(35))) == 0x6985);
}

TEST_CASE("Sign with CLA 00 answers 6E00 and with P2 other than 80 answers 6A86", "[sign]") {
    auto card = make_card();
    login(*card, Pin::Auth, "1234");
    REQUIRE(run(*card, select_ef(ef_auth_key)) == 0x9000);
    Bytes cla00 = compute_digital_signature(pattern(35));
    cla00[0] = 0x00;
    CHECK(run(*card, cla00) == 0x6E00);
    Bytes p2_97 = compute_digital_signature(pattern(35));
    p2_97[3] = 0x97;
    CHECK(run(*card, p2_97) == 0x6A86);
}

TEST_CASE("Sign with P1 other than 00 or 04 answers 6A86", "[sign]") {
    CardConfig config;
    config.pss = true;
    auto card = make_card(config);
    login(*card, Pin::Auth, "1234");
    REQUIRE(run(*card, select_ef(ef_auth_key)) == 0x9000);
    for (const std::uint8_t p1 : {0x01, 0x02, 0x03, 0x05, 0x80}) {
        INFO("P1 " << int(p1));
        CHECK(run(*card, compute_digital_signature(pattern(32), p1)) == 0x6A86);
    }
}

TEST_CASE("PSS P1 04 answers 6A86 when the card does not do PSS", "[sign][pss]") {
    auto card = make_card();
    login(*card, Pin::Auth, "1234");
    REQUIRE(run(*card, select_ef(ef_auth_key)) == 0x9000);
    CHECK(run(*card, compute_digital_signature(pattern(32), 0x04)) == 0x6A86);
}

TEST_CASE("PSS P1 04 signs a SHA-256 hash with MGF1-SHA-256 and salt 32 when enabled", "[sign][pss]") {
    CardConfig config;
    config.pss = true;
    auto card = make_card(config);
    login(*card, Pin::Sign, "ABC123");
    REQUIRE(run(*card, select_ef(ef_sign_key)) == 0x9000);
    const Bytes hash = pattern(32);
    const Bytes r = card->process(compute_digital_signature(hash, 0x04));
    REQUIRE(sw(r) == 0x9000);
    REQUIRE(body(r).size() == 256);
    CHECK(verifies_pss("sign-cert.der", hash, body(r)));
    CHECK(run(*card, compute_digital_signature(pattern(31), 0x04)) == 0x6700);
    CHECK(run(*card, compute_digital_signature(pattern(33), 0x04)) == 0x6700);
    CHECK(run(*card, compute_digital_signature(pattern(32), 0x00)) == 0x9000);  // P1 00 still works
}

TEST_CASE("sign_latency delays each signature", "[sign][latency]") {
    CardConfig config;
    config.sign_latency = std::chrono::milliseconds(120);
    auto card = make_card(config);
    login(*card, Pin::Auth, "1234");
    REQUIRE(run(*card, select_ef(ef_auth_key)) == 0x9000);
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(run(*card, compute_digital_signature(pattern(35))) == 0x9000);
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(120));
    const auto quick = std::chrono::steady_clock::now();
    REQUIRE(run(*card, select_ef(ef_auth_cert)) == 0x9000);
    CHECK(std::chrono::steady_clock::now() - quick < std::chrono::milliseconds(100));
}
