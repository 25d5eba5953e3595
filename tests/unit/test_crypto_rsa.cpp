// src/crypto RSA verification against signatures made here with the test keys, the way the card
// makes them (PKCS#1 v1.5 over given bytes; PSS over a SHA-256 hash).
#include "crypto/certificate.hpp"
#include "crypto/random.hpp"
#include "crypto/rsa.hpp"
#include "test_crypto_support.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <utility>

using namespace jpki;
using namespace jpki::crypto;
using jpki::crypto_test::bytes_of;
using jpki::crypto_test::read_pki_file;

namespace {

RsaPublicKey auth_key(Context& context) {
    return Certificate(context, read_pki_file("auth-cert.der")).public_key();
}

}  // namespace

TEST_CASE("crypto: verify_pkcs1 without a digest compares the padded bytes", "[crypto]") {
    Context context;
    const RsaPublicKey key = auth_key(context);
    const Bytes info = digest_info(DigestAlgorithm::Sha256, digest(context, DigestAlgorithm::Sha256, bytes_of("hello")));
    Bytes signature = jpki::crypto_test::sign_pkcs1_raw("auth-key.pem", info);

    CHECK(verify_pkcs1(context, key, std::nullopt, info, signature));
    Bytes other = info;
    other.back() ^= 0x01;
    CHECK_FALSE(verify_pkcs1(context, key, std::nullopt, other, signature));
    CHECK_FALSE(verify_pkcs1(context, key, std::nullopt, ByteView(info).first(info.size() - 1), signature));

    // Arbitrary short data (TLS 1.0-style MD5+SHA1, or anything up to k-11 = 245 bytes).
    const Bytes data(245, 0x5A);
    const Bytes data_signature = jpki::crypto_test::sign_pkcs1_raw("auth-key.pem", data);
    CHECK(verify_pkcs1(context, key, std::nullopt, data, data_signature));

    signature[100] ^= 0x10;
    CHECK_FALSE(verify_pkcs1(context, key, std::nullopt, info, signature));
    CHECK_FALSE(verify_pkcs1(context, key, std::nullopt, info, ByteView(signature).first(255)));
    CHECK_FALSE(verify_pkcs1(context, key, std::nullopt, info, Bytes{}));
}

TEST_CASE("crypto: verify_pkcs1 with a digest hashes the message", "[crypto]") {
    Context context;
    const RsaPublicKey key = auth_key(context);
    const Bytes message = bytes_of("a message signed with CKM_SHA256_RSA_PKCS");
    Bytes signature = jpki::crypto_test::sign_sha256_pkcs1("auth-key.pem", message);  // OpenSSL's own

    CHECK(verify_pkcs1(context, key, DigestAlgorithm::Sha256, message, signature));
    CHECK_FALSE(verify_pkcs1(context, key, DigestAlgorithm::Sha384, message, signature));
    CHECK_FALSE(verify_pkcs1(context, key, DigestAlgorithm::Sha256, bytes_of("another message"), signature));
    const RsaPublicKey sign_key = Certificate(context, read_pki_file("sign-cert.der")).public_key();
    CHECK_FALSE(verify_pkcs1(context, sign_key, DigestAlgorithm::Sha256, message, signature));
    signature[0] ^= 0x01;
    CHECK_FALSE(verify_pkcs1(context, key, DigestAlgorithm::Sha256, message, signature));

    for (const DigestAlgorithm algorithm :
         {DigestAlgorithm::Sha1, DigestAlgorithm::Sha224, DigestAlgorithm::Sha384, DigestAlgorithm::Sha512}) {
        const Bytes info = digest_info(algorithm, digest(context, algorithm, message));
        const Bytes s = jpki::crypto_test::sign_pkcs1_raw("sign-key.pem", info);
        CHECK(verify_pkcs1(context, sign_key, algorithm, message, s));
    }
}

TEST_CASE("crypto: verify_pss_sha256", "[crypto]") {
    Context context;
    const RsaPublicKey key = auth_key(context);
    const Bytes hash = digest(context, DigestAlgorithm::Sha256, bytes_of("TLS 1.3 CertificateVerify"));
    Bytes signature = jpki::crypto_test::sign_pss_sha256("auth-key.pem", hash, 32);

    CHECK(verify_pss_sha256(context, key, hash, signature));
    CHECK_FALSE(verify_pss_sha256(context, key, hash, signature, 20));  // salt length is checked
    Bytes other = hash;
    other[0] ^= 0x80;
    CHECK_FALSE(verify_pss_sha256(context, key, other, signature));
    CHECK_FALSE(verify_pss_sha256(context, key, ByteView(hash).first(20), signature));
    // A PKCS#1 v1.5 signature is not a PSS one.
    CHECK_FALSE(verify_pss_sha256(context, key, hash,
                                  jpki::crypto_test::sign_pkcs1_raw("auth-key.pem",
                                                             digest_info(DigestAlgorithm::Sha256, hash))));
    signature[200] ^= 0x04;
    CHECK_FALSE(verify_pss_sha256(context, key, hash, signature));
}

TEST_CASE("crypto: RsaPublicKey normalises its integers", "[crypto]") {
    const RsaPublicKey key(Bytes{0x00, 0x00, 0x80, 0x01}, Bytes{0x00, 0x03});
    CHECK(key.modulus() == Bytes{0x80, 0x01});
    CHECK(key.public_exponent() == Bytes{0x03});
    CHECK(key.bits() == 16);
    CHECK(RsaPublicKey(Bytes{0x01, 0xFF}, Bytes{0x03}).bits() == 9);
    CHECK_THROWS_AS(RsaPublicKey(Bytes{0x00}, Bytes{0x03}), std::invalid_argument);
    CHECK_THROWS_AS(RsaPublicKey(Bytes{0x01}, Bytes{}), std::invalid_argument);
}

TEST_CASE("crypto: random bytes and Context moves", "[crypto]") {
    Context first;
    Context context(std::move(first));
    const Bytes a = random_bytes(context, 32);
    const Bytes b = random_bytes(context, 32);
    CHECK(a.size() == 32);
    CHECK(a != b);
    CHECK(random_bytes(context, 0).empty());
    Context other;
    other = std::move(context);
    CHECK(random_bytes(other, 1000).size() == 1000);
}
