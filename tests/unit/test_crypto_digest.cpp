// src/crypto digests and DigestInfo (docs/design.md §3: CKM_SHAx_RSA_PKCS hash on the host and send
// the card a DigestInfo).
#include "crypto/digest.hpp"
#include "test_crypto_support.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace jpki;
using namespace jpki::crypto;
using jpki::crypto_test::bytes_of;
using jpki::crypto_test::from_hex;
using jpki::crypto_test::to_hex;

namespace {

struct Vector {
    DigestAlgorithm algorithm;
    const char* abc;     // FIPS 180 "abc" test vector
    const char* prefix;  // RFC 8017 §9.2 note 1
};

const Vector vectors[] = {
    {DigestAlgorithm::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d",
     "3021300906052b0e03021a05000414"},
    {DigestAlgorithm::Sha224, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
     "302d300d06096086480165030402040500041c"},
    {DigestAlgorithm::Sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
     "3031300d060960864801650304020105000420"},
    {DigestAlgorithm::Sha384,
     "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
     "3041300d060960864801650304020205000430"},
    {DigestAlgorithm::Sha512,
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd"
     "454d4423643ce80e2a9ac94fa54ca49f",
     "3051300d060960864801650304020305000440"},
};

}  // namespace

TEST_CASE("crypto: digests match the FIPS 180 \"abc\" vectors", "[crypto]") {
    Context context;
    for (const Vector& v : vectors) {
        INFO(digest_name(v.algorithm));
        const Bytes hash = digest(context, v.algorithm, bytes_of("abc"));
        CHECK(to_hex(hash) == v.abc);
        CHECK(hash.size() == digest_size(v.algorithm));
    }
    CHECK(to_hex(digest(context, DigestAlgorithm::Sha256, {})) ==
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("crypto: incremental digest equals one-shot", "[crypto]") {
    Context context;
    Bytes message;
    for (int i = 0; i < 1000; ++i) message.push_back(static_cast<std::uint8_t>(i * 7));
    for (const Vector& v : vectors) {
        INFO(digest_name(v.algorithm));
        Digest parts(context, v.algorithm);
        CHECK(parts.algorithm() == v.algorithm);
        const ByteView all(message);
        parts.update(all.subspan(0, 1));
        parts.update(all.subspan(1, 0));
        parts.update(all.subspan(1, 500));
        parts.update(all.subspan(501));
        CHECK(parts.final() == digest(context, v.algorithm, message));
        CHECK_THROWS_AS(parts.final(), std::logic_error);
        CHECK_THROWS_AS(parts.update(all), std::logic_error);
    }
}

TEST_CASE("crypto: DigestInfo uses the RFC 8017 prefixes", "[crypto]") {
    Context context;
    for (const Vector& v : vectors) {
        INFO(digest_name(v.algorithm));
        const Bytes hash = from_hex(v.abc);
        const Bytes info = digest_info(v.algorithm, hash);
        CHECK(to_hex(info) == std::string(v.prefix) + v.abc);
        CHECK(parse_digest_info(info) == v.algorithm);
    }
}

TEST_CASE("crypto: DigestInfo refuses a hash of the wrong length", "[crypto]") {
    const Bytes hash(32, 0xAB);
    CHECK_THROWS_AS(digest_info(DigestAlgorithm::Sha1, hash), std::invalid_argument);
    CHECK_THROWS_AS(digest_info(DigestAlgorithm::Sha256, ByteView(hash).first(31)), std::invalid_argument);
    CHECK_NOTHROW(digest_info(DigestAlgorithm::Sha256, hash));
}

TEST_CASE("crypto: parse_digest_info recognises only an exact DigestInfo", "[crypto]") {
    const Bytes info = digest_info(DigestAlgorithm::Sha256, Bytes(32, 0x11));
    CHECK(parse_digest_info(info) == DigestAlgorithm::Sha256);

    Bytes longer = info;
    longer.push_back(0);
    CHECK_FALSE(parse_digest_info(longer));
    CHECK_FALSE(parse_digest_info(ByteView(info).first(info.size() - 1)));
    Bytes other_oid = info;
    other_oid[14] = 0x07;  // the OID's last arc
    CHECK_FALSE(parse_digest_info(other_oid));
    CHECK_FALSE(parse_digest_info({}));
    CHECK_FALSE(parse_digest_info(bytes_of("just some data to sign, not a DigestInfo")));
}
