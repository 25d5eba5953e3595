// src/transport PC/SC pieces that run without pcscd: the error mapping, and PcscTransport's
// behaviour when the service cannot be reached (docs/design.md §3: no readers, never a crash; the
// next call tries again). The real pcscd path runs in tests/pcsc.
#include "transport/pcsc.hpp"
#include "transport/pcsc_error.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

using namespace jpki::transport;

namespace {

// pcsc-lite's client reads PCSCLITE_CSOCK_NAME once per process, at its first connection
// attempt; every test here points it at a socket that does not exist before that.
void without_pcscd() { ::setenv("PCSCLITE_CSOCK_NAME", "/nonexistent/jpki-unit-test/pcscd.comm", 1); }

template <typename Expected>
void check_maps_to(LONG rv) {
    INFO("rv = " << std::hex << rv);
    CHECK_THROWS_AS(map_pcsc_error(rv, "op"), Expected);
}

}  // namespace

TEST_CASE("pcsc: reset and removal codes map to CardReset and CardRemoved", "[pcsc]") {
    check_maps_to<CardReset>(SCARD_W_RESET_CARD);
    check_maps_to<CardReset>(SCARD_W_UNPOWERED_CARD);
    check_maps_to<CardRemoved>(SCARD_W_REMOVED_CARD);
    check_maps_to<CardRemoved>(SCARD_E_NO_SMARTCARD);
}

TEST_CASE("pcsc: service and reader loss map to ServiceUnavailable", "[pcsc]") {
    for (const LONG rv : {SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED, SCARD_F_COMM_ERROR,
                          SCARD_E_INVALID_HANDLE, SCARD_E_READER_UNAVAILABLE,
                          SCARD_E_UNKNOWN_READER, SCARD_E_NO_READERS_AVAILABLE})
        check_maps_to<ServiceUnavailable>(rv);
}

TEST_CASE("pcsc: a card held exclusively by another program maps to CardHeldExclusively", "[pcsc]") {
    check_maps_to<CardHeldExclusively>(SCARD_E_SHARING_VIOLATION);
}

TEST_CASE("pcsc: other codes map to the plain transport Error", "[pcsc]") {
    for (const LONG rv : {SCARD_W_UNRESPONSIVE_CARD, SCARD_E_TIMEOUT,
                          SCARD_E_NOT_TRANSACTED, SCARD_E_PROTO_MISMATCH, SCARD_F_INTERNAL_ERROR,
                          SCARD_E_INSUFFICIENT_BUFFER}) {
        INFO("rv = " << std::hex << rv);
        try {
            map_pcsc_error(rv, "op");
        } catch (const CardReset&) {
            FAIL("CardReset");
        } catch (const CardRemoved&) {
            FAIL("CardRemoved");
        } catch (const ServiceUnavailable&) {
            FAIL("ServiceUnavailable");
        } catch (const CardHeldExclusively&) {
            FAIL("CardHeldExclusively");
        } catch (const Error&) {
            SUCCEED();
        }
    }
}

TEST_CASE("pcsc: the error message names the operation and PC/SC's text", "[pcsc]") {
    try {
        map_pcsc_error(SCARD_E_NO_SMARTCARD, "connecting to reader \"X\"");
    } catch (const CardRemoved& e) {
        const std::string what = e.what();
        CHECK(what.find("connecting to reader \"X\"") == 0);
        CHECK(what.find(pcsc_stringify_error(SCARD_E_NO_SMARTCARD)) != std::string::npos);
        CHECK(what.find("0x8010000C") != std::string::npos);
    }
    CHECK_NOTHROW(check_pcsc(SCARD_S_SUCCESS, "op"));
    CHECK_THROWS_AS(check_pcsc(SCARD_E_NO_SERVICE, "op"), ServiceUnavailable);
}

TEST_CASE("pcsc: service-lost codes are the ones a new context cures", "[pcsc]") {
    CHECK(pcsc_service_lost(SCARD_E_NO_SERVICE));
    CHECK(pcsc_service_lost(SCARD_E_SERVICE_STOPPED));
    CHECK(pcsc_service_lost(SCARD_E_INVALID_HANDLE));
    CHECK(pcsc_service_lost(SCARD_F_COMM_ERROR));
    CHECK_FALSE(pcsc_service_lost(SCARD_S_SUCCESS));
    CHECK_FALSE(pcsc_service_lost(SCARD_W_REMOVED_CARD));
    CHECK_FALSE(pcsc_service_lost(SCARD_E_READER_UNAVAILABLE));
}

TEST_CASE("pcsc: without pcscd the transport reports no service, never crashes", "[pcsc]") {
    without_pcscd();
    PcscTransport transport;  // establishes nothing yet
    for (int call = 0; call < 2; ++call) {  // and the next call tries again, equally calmly
        bool empty_or_unavailable = false;
        try {
            empty_or_unavailable = transport.readers().empty();
        } catch (const ServiceUnavailable&) {
            empty_or_unavailable = true;
        }
        CHECK(empty_or_unavailable);
    }
    CHECK_THROWS_AS(transport.connect("Virtual PCD 00 00"), ServiceUnavailable);
    CHECK_THROWS_AS(transport.wait_for_change(std::chrono::milliseconds(10)), ServiceUnavailable);
}

TEST_CASE("pcsc: cancel_wait makes this wait and every later one return false at once", "[pcsc]") {
    without_pcscd();
    PcscTransport transport;
    transport.cancel_wait();
    // pcscd is absent: a wait that went to it would throw ServiceUnavailable. The cancel is for
    // good (C_Finalize): a second waiter, queued behind the first, must not block either.
    CHECK_FALSE(transport.wait_for_change(std::chrono::seconds(30)));
    CHECK_FALSE(transport.wait_for_change(std::chrono::seconds(30)));
}
