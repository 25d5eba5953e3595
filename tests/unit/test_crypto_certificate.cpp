// src/crypto X.509 fields against values read with `openssl x509` / `openssl asn1parse` from
// the test PKI (tests/pki).
#include "crypto/certificate.hpp"
#include "crypto/error.hpp"
#include "test_crypto_support.hpp"

#include <catch2/catch.hpp>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

using namespace jpki;
using namespace jpki::crypto;
using jpki::crypto_test::from_hex;
using jpki::crypto_test::read_pki_file;
using jpki::crypto_test::to_hex;

TEST_CASE("crypto: authentication certificate fields", "[crypto]") {
    Context context;
    const Bytes der = read_pki_file("auth-cert.der");
    const Certificate cert(context, der);

    CHECK(cert.der() == der);
    // openssl asn1parse: subject at offset 208 (hl 2, l 53), issuer at 38 (hl 3, l 135).
    CHECK(to_hex(cert.subject_der()) ==
          "3035310b3009060355040613024a503126302406035504030c1d323032353033303141555448304a504b4954"
          "4553543030303030303141");
    CHECK(to_hex(cert.issuer_der()) ==
          "308187310b3009060355040613024a5031123010060355040a0c094a504b492d5445535431253023060355"
          "040b0c1c4a504b4920666f7220757365722061757468656e7469636174696f6e313d303b060355040b0c34"
          "4a6170616e204167656e637920666f72204c6f63616c20417574686f7269747920496e666f726d617469"
          "6f6e2053797374656d73");
    CHECK(to_hex(cert.serial_number_der()) == "02082f792996a3018f00");
    CHECK(cert.serial_hex() == "2F792996A3018F00");
    CHECK(cert.subject_text() == "CN=20250301AUTH0JPKITEST0000001A,C=JP");
    CHECK(cert.subject_common_name() == "20250301AUTH0JPKITEST0000001A");
    CHECK(cert.issuer_text() ==
          "OU=Japan Agency for Local Authority Information Systems,"
          "OU=JPKI for user authentication,O=JPKI-TEST,C=JP");
    CHECK(std::chrono::system_clock::to_time_t(cert.not_before()) == 1740787200);  // 2025-03-01 00:00:00Z
    CHECK(std::chrono::system_clock::to_time_t(cert.not_after()) == 1878735599);   // 2029-07-14 14:59:59Z
    CHECK_FALSE(cert.is_ca());
    REQUIRE(cert.subject_key_id());
    CHECK(to_hex(*cert.subject_key_id()) == "4834ed7d11b95450366b7e199355331c87dc086d");

    const RsaPublicKey key = cert.public_key();
    CHECK(key.modulus().size() == 256);
    CHECK(key.bits() == 2048);
    CHECK(key.size() == 256);
    CHECK(to_hex(Bytes(key.modulus().begin(), key.modulus().begin() + 16)) ==
          "cc3eabff4c6c83dda621a346e45f0718");
    CHECK(key.public_exponent() == Bytes{0x01, 0x00, 0x01});
}

TEST_CASE("crypto: a serial with the high bit set keeps its DER sign byte", "[crypto]") {
    Context context;
    const Certificate ca(context, read_pki_file("sign-ca.der"));
    CHECK(to_hex(ca.serial_number_der()) == "020900f4d766845e7cd200");
    CHECK(ca.serial_hex() == "F4D766845E7CD200");
    CHECK(ca.is_ca());
    CHECK(ca.subject_der() == ca.issuer_der());
}

namespace {

// A self-signed certificate (the test PKI's authentication key) with the given serial, in DER:
// the test PKI's serials are all 8 bytes, and a card's may be longer or shorter.
Bytes certificate_with_serial(const char* serial_hex) {
    const Bytes key_pem = read_pki_file("auth-key.pem");
    const std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())),
                                                       &BIO_free);
    const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
    REQUIRE(key);
    const std::unique_ptr<X509, decltype(&X509_free)> x509(X509_new(), &X509_free);
    BIGNUM* raw_serial = nullptr;
    REQUIRE(BN_hex2bn(&raw_serial, serial_hex) > 0);
    const std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(raw_serial, &BN_free);
    REQUIRE(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x509.get())) != nullptr);
    REQUIRE(X509_set_version(x509.get(), 2) == 1);
    X509_gmtime_adj(X509_getm_notBefore(x509.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(x509.get()), 3600);
    X509_NAME* name = X509_get_subject_name(x509.get());
    REQUIRE(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("serial test"),
                                       -1, -1, 0) == 1);
    REQUIRE(X509_set_issuer_name(x509.get(), name) == 1);
    REQUIRE(X509_set_pubkey(x509.get(), key.get()) == 1);
    REQUIRE(X509_sign(x509.get(), key.get(), EVP_sha256()) > 0);
    const int length = i2d_X509(x509.get(), nullptr);
    REQUIRE(length > 0);
    Bytes der(static_cast<std::size_t>(length));
    unsigned char* out = der.data();
    REQUIRE(i2d_X509(x509.get(), &out) == length);
    return der;
}

}  // namespace

TEST_CASE("crypto: token_serial is the serial's last 16 hex digits (CK_TOKEN_INFO.serialNumber)", "[crypto]") {
    Context context;
    CHECK(Certificate(context, read_pki_file("auth-cert.der")).token_serial() == "2F792996A3018F00");
    // 20 bytes (RFC 5280's maximum): the last 8 bytes.
    const Certificate longer(context, certificate_with_serial("0102030405060708090A0B0C0D0E0F1011121314"));
    CHECK(longer.serial_hex() == "0102030405060708090A0B0C0D0E0F1011121314");
    CHECK(longer.token_serial() == "0D0E0F1011121314");
    // Shorter: all of it; a high first byte gets a DER sign byte, which is not part of it.
    CHECK(Certificate(context, certificate_with_serial("1234")).token_serial() == "1234");
    CHECK(Certificate(context, certificate_with_serial("8000000000000001")).token_serial() == "8000000000000001");
}

TEST_CASE("crypto: signing certificate fields", "[crypto]") {
    Context context;
    const Certificate cert(context, read_pki_file("sign-cert.der"));
    CHECK(cert.serial_hex() == "3617CC0FBD154ACC");
    CHECK(cert.subject_text() == "CN=20250301SIGN0JPKITEST0000001S,L=Kakuu-ku,L=Tokyo-to,C=JP");
    CHECK(cert.public_key().bits() == 2048);
    CHECK(cert.public_key().public_exponent() == Bytes{0x01, 0x00, 0x01});
    CHECK_FALSE(cert.is_ca());
    CHECK(cert.public_key() != Certificate(context, read_pki_file("auth-cert.der")).public_key());
}

TEST_CASE("crypto: issued_by checks the CA's key", "[crypto]") {
    Context context;
    const Certificate auth(context, read_pki_file("auth-cert.der"));
    const Certificate sign(context, read_pki_file("sign-cert.der"));
    const Certificate auth_ca(context, read_pki_file("auth-ca.der"));
    const Certificate sign_ca(context, read_pki_file("sign-ca.der"));
    CHECK(auth.issued_by(auth_ca));
    CHECK_FALSE(auth.issued_by(sign_ca));
    CHECK(sign.issued_by(sign_ca));
    CHECK_FALSE(sign.issued_by(auth_ca));
    CHECK(auth_ca.issued_by(auth_ca));  // self-signed
    CHECK_FALSE(auth_ca.issued_by(auth));
}

TEST_CASE("crypto: certificate parsing refuses garbage", "[crypto]") {
    Context context;
    CHECK_THROWS_AS(Certificate(context, Bytes{}), crypto::Error);
    CHECK_THROWS_AS(Certificate(context, from_hex("3003020101")), crypto::Error);
    CHECK_THROWS_AS(Certificate(context, Bytes(100, 0xFF)), crypto::Error);

    Bytes der = read_pki_file("auth-cert.der");
    CHECK_THROWS_AS(Certificate(context, ByteView(der).first(der.size() - 1)), crypto::Error);
    Bytes padded = der;
    padded.insert(padded.end(), 16, 0xFF);  // EF filler must be stripped by the card layer
    CHECK_THROWS_AS(Certificate(context, padded), crypto::Error);
    der[der.size() - 10] ^= 0x01;  // inside the signature: parses, no longer verifies
    const Certificate tampered(context, der);
    CHECK_FALSE(tampered.issued_by(Certificate(context, read_pki_file("auth-ca.der"))));
}

TEST_CASE("crypto: Error carries OpenSSL's text and empties its queue", "[crypto]") {
    Context context;
    try {
        const Certificate cert(context, Bytes(100, 0xFF));
        FAIL("no exception");
    } catch (const crypto::Error& e) {
        const std::string what = e.what();
        CHECK(what.rfind("parsing a certificate", 0) == 0);
        CHECK(what.size() > std::string("parsing a certificate").size());  // queue text appended
    }
    CHECK(ERR_peek_error() == 0);
}

TEST_CASE("crypto: an RSA key with a zero modulus is a crypto::Error, not invalid_argument", "[crypto][hostile]") {
    // Found by fuzz_certificate's corpus: OpenSSL decodes n = 0; the module must answer
    // CKR_DEVICE_ERROR for such a card, which it does for crypto::Error only.
    Context context;
    const Bytes der = read_pki_file("../fuzz/corpus/certificate/rsa-zero-modulus.der");
    const Certificate certificate(context, der);
    CHECK_THROWS_AS(certificate.public_key(), jpki::crypto::Error);
    // A modulus of 1 is absurd but no programming error: it answers, and signatures never verify.
    const Certificate one(context, read_pki_file("../fuzz/corpus/certificate/rsa-modulus-one.der"));
    CHECK(one.public_key().modulus() == Bytes{0x01});
}
