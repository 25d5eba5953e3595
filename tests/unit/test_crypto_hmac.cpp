// src/crypto KeyedFingerprint: what the token layer keeps of a PIN the card rejected
// (docs/design.md §3 "Login"). The key is random and never leaves the object, so the tests check
// what can be seen from outside: a fixed size, the same input gives the same fingerprint under
// one object, and another object (another key) gives another one.
#include "crypto/hmac.hpp"
#include "test_crypto_support.hpp"

#include <catch2/catch.hpp>

using namespace jpki;
using namespace jpki::crypto;
using jpki::crypto_test::bytes_of;

TEST_CASE("KeyedFingerprint: 32 bytes, stable under one key, different under another", "[crypto][hmac]") {
    Context context;
    const KeyedFingerprint first(context);
    const KeyedFingerprint second(context);
    const Bytes pin = bytes_of("ABC124");
    const Bytes a = first.of(pin);
    CHECK(a.size() == KeyedFingerprint::size);
    CHECK(KeyedFingerprint::same(a, first.of(pin)));
    CHECK_FALSE(KeyedFingerprint::same(a, first.of(bytes_of("ABC125"))));
    CHECK_FALSE(KeyedFingerprint::same(a, second.of(pin)));  // a random key per object
    CHECK(first.of({}).size() == KeyedFingerprint::size);
}

TEST_CASE("KeyedFingerprint::same compares whole fingerprints", "[crypto][hmac]") {
    const Bytes a{1, 2, 3}, b{1, 2, 3}, c{1, 2, 4}, shorter{1, 2};
    CHECK(KeyedFingerprint::same(a, b));
    CHECK_FALSE(KeyedFingerprint::same(a, c));
    CHECK_FALSE(KeyedFingerprint::same(a, shorter));
}
