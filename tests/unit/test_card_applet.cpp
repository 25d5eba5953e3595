// JpkiApplet against a scripted fake Connection: which APDUs go out, in which order, and how
// selection state, resets and PIN policy shape them (docs/card.md; docs/design.md §3).
#include "card/jpki_applet.hpp"
#include "card/pss_proof.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

using jpki::Bytes;
using jpki::SecureBytes;
using jpki::card::CardError;
using jpki::card::JpkiApplet;
using jpki::card::KeySelection;
using jpki::card::TriesCheck;
using jpki::card::PinRole;
using Kind = CardError::Kind;
// The JPKI AP's files as docs/card.md lists them, written out here so the tests also check that
// the card profile (card/profile.hpp) sends these numbers.
namespace ef {
constexpr jpki::card::Fid sign_certificate = 0x0001;
constexpr jpki::card::Fid sign_ca_certificate = 0x0002;
constexpr jpki::card::Fid token_info = 0x0006;
constexpr jpki::card::Fid certificate_flags = 0x0008;
constexpr jpki::card::Fid auth_certificate = 0x000A;
constexpr jpki::card::Fid auth_ca_certificate = 0x000B;
constexpr jpki::card::Fid auth_key = 0x0017;
constexpr jpki::card::Fid auth_pin = 0x0018;
constexpr jpki::card::Fid sign_key = 0x001A;
constexpr jpki::card::Fid sign_pin = 0x001B;
}  // namespace ef
namespace transport = jpki::transport;

std::string hex(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string s;
    for (auto b : bytes) {
        s += digits[b >> 4];
        s += digits[b & 0xF];
    }
    return s;
}

Bytes unhex(std::string_view text) {
    Bytes out;
    int high = -1;
    for (char c : text) {
        if (c == ' ') continue;
        const int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : c - 'a' + 10;
        if (high < 0) {
            high = v;
        } else {
            out.push_back(static_cast<std::uint8_t>((high << 4) | v));
            high = -1;
        }
    }
    return out;
}

Bytes with_sw(Bytes data, std::uint16_t sw) {
    data.push_back(static_cast<std::uint8_t>(sw >> 8));
    data.push_back(static_cast<std::uint8_t>(sw & 0xFF));
    return data;
}

// A DER-looking certificate of `total` bytes (30 82 hh ll + body), then filler as on the card.
Bytes fake_certificate(std::size_t total, std::uint8_t seed) {
    Bytes der = {0x30, 0x82, static_cast<std::uint8_t>((total - 4) >> 8), static_cast<std::uint8_t>((total - 4) & 0xFF)};
    for (std::size_t i = 4; i < total; ++i) der.push_back(static_cast<std::uint8_t>(i * 7 + seed));
    return der;
}

Bytes with_filler(Bytes content) {
    content.insert(content.end(), 100, 0xFF);
    return content;
}

// The card's behaviour, just enough of docs/card.md for the applet's paths.
struct MiniCard {
    enum class App { Isd, Jpki, Other } app = App::Isd;
    std::optional<std::uint16_t> ef;
    std::map<std::uint16_t, Bytes> files;
    std::string auth_pin = "1234";
    std::string sign_pin = "ABC123";
    int auth_tries = 3;
    int sign_tries = 5;
    bool auth_verified = false;
    bool sign_verified = false;
    bool pss = false;
    bool short_ef_id = false;  // READ BINARY P1 = 80 | SFI; else P1 bit 8 is an offset (6B00)
    bool extended = false;     // extended Le (00 00 00 = 65536); else 6700

    MiniCard() {
        std::string label = "JPKIAPICCTOKEN2";
        label.resize(32, ' ');
        Bytes token_info(label.begin(), label.end());
        token_info.resize(160, 0x00);
        files[ef::token_info] = token_info;
        files[ef::certificate_flags] = {0x8F, 0x8F, 0x00};
        files[ef::auth_certificate] = with_filler(fake_certificate(1185, 1));
        files[ef::auth_ca_certificate] = with_filler(fake_certificate(1000, 2));
        files[ef::sign_certificate] = with_filler(fake_certificate(1700, 3));
        files[ef::sign_ca_certificate] = with_filler(fake_certificate(1000, 4));
        for (auto fid : {ef::auth_key, ef::auth_pin, ef::sign_key, ef::sign_pin}) files[fid] = {};
    }

    void power_cycle() {
        app = App::Isd;
        ef.reset();
        auth_verified = sign_verified = false;
    }
    // What another program does when it opens the 券面事項入力補助AP.
    void select_other_applet() {
        app = App::Other;
        ef.reset();
        auth_verified = sign_verified = false;
    }
    void remove_sign_certificate() {
        files.erase(ef::sign_certificate);
        files.erase(ef::sign_key);
        files.erase(ef::sign_pin);
        files[ef::certificate_flags] = {0x00, 0x8F, 0x00};
    }

    Bytes answer(const Bytes& c) {
        const std::uint8_t ins = c.at(1);
        const std::uint8_t p1 = c.at(2);
        const Bytes data = c.size() > 5 ? Bytes(c.begin() + 5, c.begin() + 5 + c[4]) : Bytes{};
        if (ins == 0xA4 && p1 == 0x04) {
            app = hex(data) == "D392F000260100000001" ? App::Jpki : App::Other;
            ef.reset();
            return with_sw({}, 0x9000);
        }
        if (ins == 0xA4 && p1 == 0x02) {
            const auto fid = static_cast<std::uint16_t>((data.at(0) << 8) | data.at(1));
            if (app != App::Jpki || !files.contains(fid)) return with_sw({}, 0x6A82);
            ef = fid;
            return with_sw({}, 0x9000);
        }
        if (ins == 0xB0) {
            const bool extended_le = c.size() == 7 && c.at(4) == 0;
            if (extended_le && !extended) return with_sw({}, 0x6700);
            std::size_t offset = (std::size_t{p1} << 8) | c.at(3);
            if ((p1 & 0x80) != 0 && short_ef_id) {
                if (app != App::Jpki || !files.contains(p1 & 0x1F)) return with_sw({}, 0x6A82);
                ef = static_cast<std::uint16_t>(p1 & 0x1F);
                offset = c.at(3);
            }
            if (!ef) return with_sw({}, 0x6986);
            if (*ef == ef::sign_certificate && !sign_verified) return with_sw({}, 0x6982);
            const Bytes& content = files.at(*ef);
            const std::size_t le = extended_le ? (c[5] == 0 && c[6] == 0 ? 65536 : (std::size_t{c[5]} << 8) | c[6])
                                               : (c.at(4) == 0 ? 256 : c.at(4));
            if (offset >= content.size()) return with_sw({}, 0x6B00);
            const std::size_t n = std::min(le, content.size() - offset);
            return with_sw(Bytes(content.begin() + static_cast<long>(offset), content.begin() + static_cast<long>(offset + n)), 0x9000);
        }
        if (ins == 0x20 || ins == 0x24) {
            const bool auth = ef == ef::auth_pin;
            if (!auth && ef != ef::sign_pin) return with_sw({}, 0x6981);
            int& tries = auth ? auth_tries : sign_tries;
            bool& verified = auth ? auth_verified : sign_verified;
            std::string& pin = auth ? auth_pin : sign_pin;
            if (ins == 0x24) {
                if (!verified) return with_sw({}, 0x6982);
                pin.assign(data.begin(), data.end());
                return with_sw({}, 0x9000);
            }
            if (tries == 0) return with_sw({}, 0x6984);
            if (c.size() == 4) return with_sw({}, static_cast<std::uint16_t>(0x63C0 | tries));
            if (std::string(data.begin(), data.end()) == pin) {
                verified = true;
                tries = auth ? 3 : 5;
                return with_sw({}, 0x9000);
            }
            verified = false;
            --tries;
            return with_sw({}, static_cast<std::uint16_t>(0x63C0 | tries));
        }
        if (ins == 0x2A) {
            const bool auth = ef == ef::auth_key;
            if (!auth && ef != ef::sign_key) return with_sw({}, 0x6985);
            if (p1 == 0x04 && !pss) return with_sw({}, 0x6A86);
            if (!(auth ? auth_verified : sign_verified)) return with_sw({}, 0x6982);
            return with_sw(Bytes(256, 0x5A), 0x9000);
        }
        if (ins == 0x84) return with_sw(Bytes(c.at(4) == 0 ? 256 : c.at(4), 0x42), 0x9000);
        return with_sw({}, 0x6D00);
    }
};

// Records every APDU and transaction; answers from `script` (command hex -> queued answers)
// first, then from the MiniCard. Fault injection: resets at begin or at a chosen command.
class FakeConnection : public transport::Connection {
public:
    MiniCard card;
    std::vector<std::string> sent;  // test only: holds PIN bytes in clear
    std::map<std::string, std::deque<std::string>> script;
    int begins = 0;
    int ends = 0;
    int reconnects = 0;
    int card_resets = 0;
    int resets_at_begin = 0;            // the next n begin_transaction() calls see a reset
    int resets_at_reconnect = 0;        // the next n reconnect() calls meet yet another reset
    std::string reset_at_command;       // a command starting with this hex meets a reset (once)
    bool removed = false;
    bool reader_short_only = false;     // the reader fails extended-length APDUs (never sent)
    std::vector<std::string> refused;   // what the reader refused

    Bytes transmit(std::span<const std::uint8_t> command) override {
        REQUIRE(in_transaction_);  // every exchange runs inside a transaction
        if (removed) throw transport::CardRemoved("removed");
        if (must_reconnect_) throw transport::CardReset("reset");
        const std::string c = hex(command);
        if (reader_short_only && transport::is_extended_length(command)) {
            refused.push_back(c);
            throw transport::ExtendedLengthRefused("short APDUs only");
        }
        sent.push_back(c);
        if (!reset_at_command.empty() && c.starts_with(reset_at_command)) {
            reset_at_command.clear();
            reset();
            throw transport::CardReset("reset");
        }
        if (auto it = script.find(c); it != script.end() && !it->second.empty()) {
            const std::string reply = it->second.front();
            it->second.pop_front();
            return unhex(reply);
        }
        return card.answer(Bytes(command.begin(), command.end()));
    }
    void begin_transaction() override {
        REQUIRE_FALSE(in_transaction_);  // no nesting
        if (resets_at_begin > 0) {
            --resets_at_begin;
            reset();
        }
        if (must_reconnect_) throw transport::CardReset("reset");
        if (removed) throw transport::CardRemoved("removed");
        ++begins;
        in_transaction_ = true;
    }
    void end_transaction() noexcept override {
        ++ends;
        in_transaction_ = false;
    }
    void reconnect() override {
        REQUIRE_FALSE(in_transaction_);
        ++reconnects;
        if (resets_at_reconnect > 0) {  // another program resets the card again meanwhile
            --resets_at_reconnect;
            throw transport::CardReset("reset during reconnect");
        }
        must_reconnect_ = false;
    }
    void reset_card() override {
        REQUIRE_FALSE(in_transaction_);
        ++card_resets;
        card.power_cycle();
    }
    Bytes atr() const override { return unhex("3BE000FF8131FE4514"); }

    std::vector<std::string> take() { return std::exchange(sent, {}); }

private:
    void reset() {
        card.power_cycle();
        must_reconnect_ = true;
    }
    bool in_transaction_ = false;
    bool must_reconnect_ = false;
};

const std::string select_ap = "00A4040C0AD392F000260100000001";
// Most tests follow the SELECT EF + short READ BINARY path; the whole-file forms have their own
// tests below (issue 11).
using Support = jpki::card::ReadPlan::Support;
const jpki::card::ReadPlan short_reads{Support::No, Support::No};
std::string select_ef(std::uint16_t fid) {
    const std::uint8_t id[] = {static_cast<std::uint8_t>(fid >> 8), static_cast<std::uint8_t>(fid)};
    return "00A4020C02" + hex(id);
}
const std::string verify_1234 = "002000800431323334";
const std::string verify_abc123 = "0020008006414243313233";
const std::string verify_status = "00200080";

SecureBytes pin(std::string_view text) { return SecureBytes(text); }

Kind kind_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const CardError& e) {
        return e.kind();
    }
    FAIL("no CardError thrown");
    return Kind::CardError;
}

}  // namespace

TEST_CASE("probe: JPKI detected by AID + EF 0006, and nothing more is read", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    const auto info = applet.probe();
    REQUIRE(info);
    CHECK(info->label == "JPKIAPICCTOKEN2");
    CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0006), "00B0000020"});
    CHECK(conn.begins == 1);
    CHECK(conn.ends == 1);
}

TEST_CASE("probe: an under-15 card is probed the same way", "[card][applet]") {
    FakeConnection conn;
    conn.card.remove_sign_certificate();
    JpkiApplet applet(conn, short_reads);
    const auto info = applet.probe();
    REQUIRE(info);
    CHECK(info->label == "JPKIAPICCTOKEN2");
    CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0006), "00B0000020"});
}

TEST_CASE("has_sign_certificate: EF 0008 byte 0, in its own transaction", "[card][applet]") {
    FakeConnection conn;
    SECTION("a normal card: 8F") {
        JpkiApplet applet(conn, short_reads);
        REQUIRE(applet.probe());
        conn.take();
        CHECK(applet.has_sign_certificate());
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0008), "00B0000003"});
        CHECK(conn.begins == 2);
        CHECK(conn.ends == 2);
        CHECK(applet.security_epoch() == 0);
    }
    SECTION("an under-15 card: 00") {
        conn.card.remove_sign_certificate();
        JpkiApplet applet(conn, short_reads);
        REQUIRE(applet.probe());
        conn.take();
        CHECK_FALSE(applet.has_sign_certificate());
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0008), "00B0000003"});
    }
    SECTION("without a probe first: the AP selection is unknown, so it selects the AP") {
        JpkiApplet applet(conn, short_reads);
        CHECK(applet.has_sign_certificate());
        CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0008), "00B0000003"});
        CHECK(conn.begins == 1);
    }
    SECTION("EF 0008 unreadable: EF 0001's select decides") {
        conn.script["00B0000003"] = {"6982"};
        JpkiApplet applet(conn, short_reads);
        REQUIRE(applet.probe());
        conn.take();
        CHECK(applet.has_sign_certificate());
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0008), "00B0000003", select_ef(0x0001)});
    }
    SECTION("EF 0008 answering no data: EF 0001's select decides") {
        conn.script["00B0000003"] = {"9000"};
        conn.card.remove_sign_certificate();
        JpkiApplet applet(conn, short_reads);
        CHECK_FALSE(applet.has_sign_certificate());
        CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0008), "00B0000003", select_ef(0x0001)});
    }
}

TEST_CASE("has_sign_certificate without EF 0008: EF 0001's select decides", "[card][applet]") {
    FakeConnection conn;
    conn.card.files.erase(ef::certificate_flags);
    SECTION("under-15 card, AP selected in this transaction: 6A82 twice costs no AP reselect") {
        conn.card.remove_sign_certificate();
        conn.card.files.erase(ef::certificate_flags);
        JpkiApplet applet(conn, short_reads);
        CHECK_FALSE(applet.has_sign_certificate());
        CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0008), select_ef(0x0001)});
        CHECK(applet.security_epoch() == 0);
    }
    SECTION("under-15 card, asked inside the probe's transaction") {
        conn.card.remove_sign_certificate();
        conn.card.files.erase(ef::certificate_flags);
        JpkiApplet applet(conn, short_reads);
        const bool has_sign = applet.in_transaction([&] {
            REQUIRE(applet.probe());
            return applet.has_sign_certificate();
        });
        CHECK_FALSE(has_sign);
        CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0006), "00B0000020", select_ef(0x0008),
                                                      select_ef(0x0001)});
        CHECK(conn.begins == 1);
        CHECK(applet.security_epoch() == 0);
    }
    SECTION("a card with EF 0001") {
        JpkiApplet applet(conn, short_reads);
        CHECK(applet.has_sign_certificate());
        CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0008), select_ef(0x0001)});
    }
    SECTION("AP remembered from the probe's transaction: the 6A82 of EF 0008 means absent, no AP reselect") {
        // EF 0008 is [ONE]: its absence must not pass for "card moved", which would drop logins.
        JpkiApplet applet(conn, short_reads);
        REQUIRE(applet.probe());
        conn.take();
        CHECK(applet.has_sign_certificate());
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0008), select_ef(0x0001)});
        CHECK(applet.security_epoch() == 0);
    }
}

TEST_CASE("probe: a card without the JPKI AID is not ours", "[card][applet]") {
    FakeConnection conn;
    conn.script[select_ap] = {"6A82"};
    JpkiApplet applet(conn, short_reads);
    CHECK_FALSE(applet.probe());
    CHECK(conn.take() == std::vector<std::string>{select_ap});
    CHECK(conn.ends == 1);
}

TEST_CASE("certificate read: exact APDU sequence for a 1185-byte certificate", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    const Bytes cert = applet.read_certificate(ef::auth_certificate);
    CHECK(cert == fake_certificate(1185, 1));  // the DER only, no filler
    // 30 82 04 9D: 4 + 1181 = 1185 bytes = 4 x 256 + 161 (A1): 256 at offset 0, which carries
    // the header, then 3 x 256 and 161 bytes.
    CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x000A), "00B0000000", "00B0010000",
                                                  "00B0020000", "00B0030000", "00B00400A1"});

    SECTION("a second read of another EF skips the AP select") {
        const Bytes ca = applet.read_certificate(ef::auth_ca_certificate);
        CHECK(ca == fake_certificate(1000, 2));
        // 1000 = 3 x 256 + 232 (E8)
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x000B), "00B0000000", "00B0010000", "00B0020000",
                                                      "00B00300E8"});
        CHECK(conn.begins == 2);
        CHECK(conn.ends == 2);
    }
    SECTION("reading the same EF again re-selects it: EF memory ends with the transaction") {
        (void)applet.read_certificate(ef::auth_certificate);
        CHECK(conn.take().front() == select_ef(0x000A));
    }
}

TEST_CASE("certificate read: a certificate of exactly n*256 bytes needs no short last read", "[card][applet]") {
    FakeConnection conn;
    conn.card.files[ef::sign_ca_certificate] = with_filler(fake_certificate(512, 9));
    JpkiApplet applet(conn, short_reads);
    CHECK(applet.read_certificate(ef::sign_ca_certificate) == fake_certificate(512, 9));
    CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0002), "00B0000000", "00B0010000"});

    SECTION("4 + n*256 bytes: the last read fetches 4 bytes") {
        conn.card.files[ef::sign_ca_certificate] = with_filler(fake_certificate(4 + 512, 9));
        CHECK(applet.read_certificate(ef::sign_ca_certificate) == fake_certificate(516, 9));
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0002), "00B0000000", "00B0010000", "00B0020004"});
    }
    SECTION("a first read answering fewer than 256 bytes: the rest follows from where it stopped") {
        conn.card.files[ef::sign_ca_certificate] = fake_certificate(300, 9);
        conn.script["00B0000000"] = {hex(Bytes(conn.card.files[ef::sign_ca_certificate].begin(),
                                               conn.card.files[ef::sign_ca_certificate].begin() + 100)) +
                                     "9000"};
        CHECK(applet.read_certificate(ef::sign_ca_certificate) == fake_certificate(300, 9));
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0002), "00B0000000", "00B00064C8"});
    }
}

TEST_CASE("certificate read: a card refusing the 256-byte first read gets the 4-byte read", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    SECTION("6B00") {
        conn.script["00B0000000"] = {"6B00"};
    }
    SECTION("6700") {
        conn.script["00B0000000"] = {"6700"};
    }
    SECTION("6Cxx") {
        conn.script["00B0000000"] = {"6C04"};
    }
    CHECK(applet.read_certificate(ef::auth_certificate) == fake_certificate(1185, 1));
    // After the 4-byte header the rest comes from offset 4: 4 x 256 + 157 (9D).
    CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x000A), "00B0000000", "00B0000004",
                                                  "00B0000400", "00B0010400", "00B0020400", "00B0030400",
                                                  "00B004049D"});
    // The fallback is per read, not remembered: the next read tries 256 bytes again.
    CHECK(applet.read_certificate(ef::auth_certificate) == fake_certificate(1185, 1));
    CHECK(conn.take() == std::vector<std::string>{select_ef(0x000A), "00B0000000", "00B0010000", "00B0020000",
                                                  "00B0030000", "00B00400A1"});
    CHECK(conn.ends == conn.begins);
}

TEST_CASE("certificate read: the 4-byte fallback read failing too is a card error", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    SECTION("both refused") {
        conn.script["00B0000000"] = {"6700"};
        conn.script["00B0000004"] = {"6A81"};
        CHECK(kind_of([&] { (void)applet.read_certificate(ef::auth_certificate); }) == Kind::CardError);
        CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x000A), "00B0000000", "00B0000004"});
    }
    SECTION("the fallback answers a short header") {
        conn.script["00B0000000"] = {"6700"};
        conn.script["00B0000004"] = {"30829000"};  // only two data bytes
        CHECK(kind_of([&] { (void)applet.read_certificate(ef::auth_certificate); }) == Kind::InvalidResponse);
        CHECK(conn.sent.size() == 4);
    }
    CHECK(conn.ends == conn.begins);
}

TEST_CASE("certificate read: malformed headers are refused", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    SECTION("not 30 82") {
        conn.card.files[ef::auth_certificate] = unhex("3081FF00" + std::string(600, '0'));
        CHECK(kind_of([&] { (void)applet.read_certificate(ef::auth_certificate); }) == Kind::InvalidResponse);
        CHECK(conn.sent.size() == 3);  // select AP, select EF, the 256-byte first read; nothing more
    }
    SECTION("empty file") {
        conn.card.files[ef::auth_certificate] = Bytes(4, 0xFF);
        CHECK(kind_of([&] { (void)applet.read_certificate(ef::auth_certificate); }) == Kind::InvalidResponse);
    }
    SECTION("short header") {
        conn.script["00B0000000"] = {"30829000"};  // only two data bytes
        CHECK(kind_of([&] { (void)applet.read_certificate(ef::auth_certificate); }) == Kind::InvalidResponse);
    }
    SECTION("length beyond the file: the card's 6B00 surfaces as a card error") {
        conn.card.files[ef::auth_certificate] = fake_certificate(600, 1);
        conn.card.files[ef::auth_certificate][2] = 0x05;  // claims 4 + 0x0554 bytes
        CHECK(kind_of([&] { (void)applet.read_certificate(ef::auth_certificate); }) == Kind::CardError);
    }
    CHECK(conn.ends == conn.begins);
    CHECK_THROWS_AS(applet.read_certificate(ef::auth_key), std::invalid_argument);
}

TEST_CASE("EF 0001 needs the SignPin: 6982 -> SecurityStatusNotSatisfied", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    REQUIRE(applet.probe());
    conn.take();
    CHECK(kind_of([&] { (void)applet.read_certificate(ef::sign_certificate); }) == Kind::SecurityStatusNotSatisfied);
    // A security refusal gets no 4-byte fallback read: it would only be refused again.
    CHECK(conn.take() == std::vector<std::string>{select_ef(0x0001), "00B0000000"});

    applet.verify(PinRole::Sign, pin("abc123"));
    conn.take();
    CHECK(applet.read_certificate(ef::sign_certificate) == fake_certificate(1700, 3));
    const auto sent = conn.take();
    CHECK(sent.front() == select_ef(0x0001));  // no AP select after the VERIFY
    // 1700 = 256 + 5 x 256 + 164 (A4)
    CHECK(sent == std::vector<std::string>{select_ef(0x0001), "00B0000000", "00B0010000", "00B0020000",
                                           "00B0030000", "00B0040000", "00B0050000", "00B00600A4"});
}

TEST_CASE("VERIFY always selects the AP first, then the PIN EF", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    REQUIRE(applet.probe());
    conn.take();
    applet.verify(PinRole::Auth, pin("1234"));
    CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0018), verify_1234});
    applet.verify(PinRole::Auth, pin("1234"));
    CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0018), verify_1234});
    applet.verify(PinRole::Sign, pin("abc123"));  // upper-cased before it leaves
    CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x001B), verify_abc123});
    CHECK(conn.card.auth_verified);
    CHECK(conn.card.sign_verified);
}

TEST_CASE("VERIFY in one transaction reuses an AP that transaction selected", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    REQUIRE(applet.probe());
    conn.take();
    SECTION("tries left, then VERIFY: the AP is still selected before the VERIFY") {
        applet.in_transaction([&] {
            REQUIRE(applet.tries_left(PinRole::Auth) == 3);
            applet.verify(PinRole::Auth, pin("1234"));
        });
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0018), verify_status, select_ap, select_ef(0x0018),
                                                      verify_1234});
    }
    SECTION("two VERIFYs: one AP select") {
        applet.in_transaction([&] {
            applet.verify(PinRole::Auth, pin("1234"));
            applet.verify(PinRole::Sign, pin("ABC123"));
        });
        CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0018), verify_1234, select_ef(0x001B),
                                                      verify_abc123});
    }
    CHECK(conn.begins == 2);
    CHECK(conn.ends == 2);
}

// What the token layer's final-try guard does with the counter: record it, and refuse below a limit.
struct GuardStop : std::runtime_error {
    GuardStop() : std::runtime_error("guard") {}
};
struct Guard {
    std::vector<int> seen;
    int refuse_at_or_below = -1;
    TriesCheck check() {
        return [this](int tries) {
            seen.push_back(tries);
            if (tries <= refuse_at_or_below) throw GuardStop();
        };
    }
};

TEST_CASE("VERIFY with a TriesCheck: AP, PIN EF, empty VERIFY, check, VERIFY in one transaction",
          "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    REQUIRE(applet.probe());
    conn.take();
    Guard guard;
    applet.verify(PinRole::Auth, pin("1234"), guard.check());
    CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0018), verify_status, verify_1234});
    CHECK(guard.seen == std::vector<int>{3});
    CHECK(conn.card.auth_verified);
    CHECK(conn.begins == 2);
    CHECK(conn.ends == 2);

    SECTION("the check sees the counter left by a wrong try") {
        CHECK(kind_of([&] { applet.verify(PinRole::Sign, pin("WRONG1")); }) == Kind::PinIncorrect);
        conn.take();
        applet.verify(PinRole::Sign, pin("abc123"), guard.check());
        CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x001B), verify_status, verify_abc123});
        CHECK(guard.seen == std::vector<int>{3, 4});
        CHECK(conn.card.sign_tries == 5);
    }
    SECTION("inside a transaction that selected the AP, no second AP select") {
        applet.in_transaction([&] {
            applet.verify(PinRole::Auth, pin("1234"));
            applet.verify(PinRole::Sign, pin("ABC123"), guard.check());
        });
        CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0018), verify_1234, select_ef(0x001B),
                                                      verify_status, verify_abc123});
        CHECK(guard.seen == std::vector<int>{3, 5});
    }
    SECTION("a locked PIN: the check sees 0; if it lets the VERIFY go, PinLocked") {
        conn.card.auth_tries = 0;
        CHECK(kind_of([&] { applet.verify(PinRole::Auth, pin("1234"), guard.check()); }) == Kind::PinLocked);
        CHECK(guard.seen == std::vector<int>{3, 0});
    }
    SECTION("an unreadable counter stops before the check and the VERIFY") {
        conn.script[verify_status] = {"6A88"};
        CHECK(kind_of([&] { applet.verify(PinRole::Auth, pin("1234"), guard.check()); }) == Kind::CardError);
        CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0018), verify_status});
        CHECK(guard.seen == std::vector<int>{3});
    }
}

TEST_CASE("VERIFY with a TriesCheck that throws: no VERIFY with data, the exception propagates",
          "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    conn.card.sign_tries = 1;
    Guard guard;
    guard.refuse_at_or_below = 1;
    CHECK_THROWS_AS(applet.verify(PinRole::Sign, pin("WRONG1"), guard.check()), GuardStop);
    CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x001B), verify_status});
    CHECK(guard.seen == std::vector<int>{1});
    CHECK(conn.card.sign_tries == 1);  // no try spent
    CHECK(conn.ends == conn.begins);
    CHECK(conn.begins == 1);

    SECTION("a CardError from the check passes through unchanged") {
        const TriesCheck refuse = [](int) { throw CardError(Kind::PinLocked, 0, "final try kept back"); };
        CHECK(kind_of([&] { applet.verify(PinRole::Sign, pin("ABC123"), refuse); }) == Kind::PinLocked);
        CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x001B), verify_status});
        CHECK_FALSE(conn.card.sign_verified);
    }
    SECTION("the applet still works afterwards") {
        applet.verify(PinRole::Sign, pin("ABC123"));
        CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x001B), verify_abc123});
        CHECK(conn.card.sign_verified);
    }
}

TEST_CASE("VERIFY with a TriesCheck: a reset at the empty VERIFY re-runs it, the PIN goes out once",
          "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    Guard guard;
    conn.reset_at_command = verify_status;
    applet.verify(PinRole::Auth, pin("1234"), guard.check());
    CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0018), verify_status, select_ap,
                                                  select_ef(0x0018), verify_status, verify_1234});
    CHECK(guard.seen == std::vector<int>{3});  // the reset came before the first check
    CHECK(conn.reconnects == 1);
    CHECK(applet.security_epoch() == 1);
    CHECK(conn.card.auth_verified);
}

TEST_CASE("change_pin with a TriesCheck: empty VERIFY and check before VERIFY old", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    Guard guard;
    SECTION("the check lets it go") {
        applet.change_pin(PinRole::Sign, pin("abc123"), pin("newpin99"), guard.check());
        CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x001B), verify_status, verify_abc123,
                                                      "00240180084E455750494E3939"});
        CHECK(guard.seen == std::vector<int>{5});
        CHECK(conn.card.sign_pin == "NEWPIN99");
        CHECK(conn.begins == 1);
    }
    SECTION("the check throws: neither VERIFY old nor CHANGE REFERENCE DATA") {
        guard.refuse_at_or_below = 5;
        CHECK_THROWS_AS(applet.change_pin(PinRole::Auth, pin("1234"), pin("5678"), guard.check()), GuardStop);
        CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0018), verify_status});
        CHECK(guard.seen == std::vector<int>{3});
        CHECK(conn.card.auth_pin == "1234");
        CHECK(conn.card.auth_tries == 3);
        CHECK(conn.ends == conn.begins);
    }
}

TEST_CASE("VERIFY answers: 63Cx incorrect with tries, 63C0 and 6984 locked", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    try {
        applet.verify(PinRole::Auth, pin("9999"));
        FAIL("wrong PIN accepted");
    } catch (const CardError& e) {
        CHECK(e.kind() == Kind::PinIncorrect);
        CHECK(e.tries_left() == 2);
        CHECK(e.sw() == 0x63C2);
    }
    CHECK(applet.tries_left(PinRole::Auth) == 2);
    CHECK(kind_of([&] { applet.verify(PinRole::Auth, pin("9999")); }) == Kind::PinIncorrect);
    try {
        applet.verify(PinRole::Auth, pin("9999"));
        FAIL("wrong PIN accepted");
    } catch (const CardError& e) {
        CHECK(e.kind() == Kind::PinLocked);  // 63C0: this try locked it
        CHECK(e.sw() == 0x63C0);
        CHECK(e.tries_left() == 0);
    }
    CHECK(applet.tries_left(PinRole::Auth) == 0);
    try {
        applet.verify(PinRole::Auth, pin("1234"));
        FAIL("locked PIN accepted");
    } catch (const CardError& e) {
        CHECK(e.kind() == Kind::PinLocked);
        CHECK(e.sw() == 0x6984);
    }
}

TEST_CASE("tries_left: SELECT PIN EF + empty VERIFY, no try spent", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    CHECK(applet.tries_left(PinRole::Sign) == 5);
    CHECK(applet.tries_left(PinRole::Auth) == 3);
    const auto sent = conn.take();
    CHECK(sent == std::vector<std::string>{select_ap, select_ef(0x001B), verify_status, select_ef(0x0018), verify_status});
    CHECK(conn.card.sign_tries == 5);
    CHECK(conn.card.auth_tries == 3);
    for (const auto& c : sent) CHECK_FALSE((c.starts_with("00200080") && c.size() > 8));

    SECTION("a card that answers 9000 once verified reports the full counter") {
        conn.script[verify_status] = {"9000"};
        CHECK(applet.tries_left(PinRole::Auth) == 3);
    }
    SECTION("other answers are errors") {
        conn.script[verify_status] = {"6A88"};
        CHECK(kind_of([&] { (void)applet.tries_left(PinRole::Auth); }) == Kind::CardError);
    }
}

TEST_CASE("a malformed PIN sends nothing and opens no transaction", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    CHECK(kind_of([&] { applet.verify(PinRole::Auth, pin("123")); }) == Kind::PinLengthOutOfRange);
    CHECK(kind_of([&] { applet.verify(PinRole::Auth, pin("12345")); }) == Kind::PinLengthOutOfRange);
    CHECK(kind_of([&] { applet.verify(PinRole::Auth, pin("12a4")); }) == Kind::PinInvalidCharacter);
    CHECK(kind_of([&] { applet.verify(PinRole::Sign, pin("ABC12")); }) == Kind::PinLengthOutOfRange);
    CHECK(kind_of([&] { applet.verify(PinRole::Sign, pin("ABC-12")); }) == Kind::PinInvalidCharacter);
    CHECK(kind_of([&] { applet.change_pin(PinRole::Auth, pin("1234"), pin("12")); }) == Kind::PinLengthOutOfRange);
    CHECK(kind_of([&] { applet.change_pin(PinRole::Sign, pin("ABC!23"), pin("NEWPIN")); }) ==
          Kind::PinInvalidCharacter);
    CHECK(kind_of([&] { applet.change_pin(PinRole::Sign, pin("ABC123"), pin("NEW PIN")); }) ==
          Kind::PinInvalidCharacter);
    CHECK(conn.sent.empty());
    CHECK(conn.begins == 0);
    CHECK(conn.card.auth_tries == 3);
}

TEST_CASE("sign: key EF + COMPUTE DIGITAL SIGNATURE, never an AP select after the VERIFY", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    REQUIRE(applet.probe());
    applet.verify(PinRole::Auth, pin("1234"));
    conn.take();
    const Bytes digest_info(51, 0x31);
    const Bytes signature = applet.sign(PinRole::Auth, digest_info);
    CHECK(signature.size() == 256);
    CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), "802A008033" + hex(digest_info) + "00"});
    // Several signatures after one VERIFY: each its own transaction, the key EF selected again.
    (void)applet.sign(PinRole::Auth, Bytes(245, 0x01));
    const auto sent = conn.take();
    REQUIRE(sent.size() == 2);
    CHECK(sent[0] == select_ef(0x0017));
    CHECK(sent[1].starts_with("802A0080F5"));
}

TEST_CASE("sign with KeepPrevious: the key EF select is skipped only after our own SIGN with that key",
          "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    REQUIRE(applet.probe());
    applet.verify(PinRole::Auth, pin("1234"));
    applet.verify(PinRole::Sign, pin("ABC123"));
    conn.take();
    const Bytes digest_info(51, 0x31);
    const std::string sign_apdu = "802A008033" + hex(digest_info) + "00";
    const auto keep = [&](PinRole key) { return applet.sign(key, digest_info, KeySelection::KeepPrevious); };

    // The first sign after the VERIFYs selects the key EF; then each sign is one APDU.
    CHECK(keep(PinRole::Auth).size() == 256);
    CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), sign_apdu});
    CHECK(keep(PinRole::Auth).size() == 256);
    CHECK(conn.take() == std::vector<std::string>{sign_apdu});
    CHECK(keep(PinRole::Auth).size() == 256);
    CHECK(conn.take() == std::vector<std::string>{sign_apdu});
    CHECK(conn.begins == conn.ends);

    SECTION("default Select always selects, and KeepPrevious after it skips again") {
        CHECK(applet.sign(PinRole::Auth, digest_info).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), sign_apdu});
        CHECK(applet.sign(PinRole::Auth, digest_info, KeySelection::Select).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), sign_apdu});
        CHECK(keep(PinRole::Auth).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{sign_apdu});
    }
    SECTION("tries_left selects the PIN EF: the next KeepPrevious sign selects again") {
        CHECK(applet.tries_left(PinRole::Auth) == 3);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0018), verify_status});
        CHECK(keep(PinRole::Auth).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), sign_apdu});
    }
    SECTION("read_certificate selects a certificate EF: the next KeepPrevious sign selects again") {
        (void)applet.read_certificate(ef::auth_certificate);
        conn.take();
        CHECK(keep(PinRole::Auth).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), sign_apdu});
    }
    SECTION("has_sign_certificate selects EF 0008: the next KeepPrevious sign selects again") {
        CHECK(applet.has_sign_certificate());
        conn.take();
        CHECK(keep(PinRole::Auth).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), sign_apdu});
    }
    SECTION("a VERIFY selects the AP: the next KeepPrevious sign selects again") {
        applet.verify(PinRole::Auth, pin("1234"));
        conn.take();
        CHECK(keep(PinRole::Auth).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), sign_apdu});
    }
    SECTION("GET CHALLENGE selects nothing: KeepPrevious still skips") {
        (void)applet.get_challenge(8);
        CHECK(conn.take() == std::vector<std::string>{"0084000008"});
        CHECK(keep(PinRole::Auth).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{sign_apdu});
    }
    SECTION("KeepPrevious for the other key selects it, and then the first key again") {
        CHECK(keep(PinRole::Sign).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x001A), sign_apdu});
        CHECK(keep(PinRole::Sign).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{sign_apdu});
        CHECK(keep(PinRole::Auth).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), sign_apdu});
    }
    SECTION("PSS with the same key may keep the selection too") {
        conn.card.pss = true;
        const Bytes hash(32, 0xAA);
        CHECK(applet.sign_pss_sha256(PinRole::Auth, hash, KeySelection::KeepPrevious).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{"802A048020" + hex(hash) + "00"});
        CHECK(applet.sign_pss_sha256(PinRole::Auth, hash).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), "802A048020" + hex(hash) + "00"});
    }
    SECTION("a card that refuses PSS (6A86) keeps the key EF current: the next KeepPrevious sign skips the select") {
        conn.card.pss = false;
        const Bytes hash(32, 0xAA);
        CHECK(kind_of([&] { (void)applet.sign_pss_sha256(PinRole::Auth, hash); }) == Kind::FunctionNotSupported);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), "802A048020" + hex(hash) + "00"});
        CHECK(keep(PinRole::Auth).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{sign_apdu});
    }
    SECTION("after forget_selection it does not skip: SecurityStateLost until a new VERIFY, then a select") {
        applet.forget_selection();
        CHECK(kind_of([&] { (void)keep(PinRole::Auth); }) == Kind::SecurityStateLost);
        CHECK(conn.take().empty());
        applet.verify(PinRole::Auth, pin("1234"));
        conn.take();
        CHECK(keep(PinRole::Auth).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), sign_apdu});
    }
    SECTION("after a reset it does not skip: SecurityStateLost, nothing sent; after a new VERIFY, a select") {
        conn.resets_at_begin = 1;
        CHECK(kind_of([&] { (void)keep(PinRole::Auth); }) == Kind::SecurityStateLost);
        CHECK(conn.take().empty());
        CHECK(conn.reconnects == 1);
        applet.verify(PinRole::Auth, pin("1234"));
        conn.take();
        CHECK(keep(PinRole::Auth).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), sign_apdu});
    }
    SECTION("a reset at the skipped-select SIGN itself: SecurityStateLost, not re-sent") {
        conn.reset_at_command = sign_apdu;
        CHECK(kind_of([&] { (void)keep(PinRole::Auth); }) == Kind::SecurityStateLost);
        CHECK(conn.take() == std::vector<std::string>{sign_apdu});
        CHECK(conn.reconnects == 1);
        CHECK(applet.security_epoch() == 1);
    }
    SECTION("after a transport error it does not skip") {
        conn.removed = true;
        CHECK_THROWS_AS(keep(PinRole::Auth), transport::CardRemoved);
        conn.removed = false;
        conn.take();
        CHECK(kind_of([&] { (void)keep(PinRole::Auth); }) == Kind::SecurityStateLost);
        applet.verify(PinRole::Auth, pin("1234"));
        conn.take();
        CHECK(keep(PinRole::Auth).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), sign_apdu});
    }
    CHECK(conn.ends == conn.begins);
}

TEST_CASE("sign with KeepPrevious: a failed SIGN leaves nothing to keep", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    REQUIRE(applet.probe());
    conn.take();
    const Bytes digest_info(51, 0x31);
    const std::string sign_apdu = "802A008033" + hex(digest_info) + "00";
    SECTION("first use of KeepPrevious selects") {
        CHECK(kind_of([&] { (void)applet.sign(PinRole::Sign, digest_info, KeySelection::KeepPrevious); }) ==
              Kind::SecurityStatusNotSatisfied);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x001A), sign_apdu});
    }
    SECTION("a 6982 answer is not a successful SIGN: the next KeepPrevious sign selects again") {
        CHECK(kind_of([&] { (void)applet.sign(PinRole::Sign, digest_info); }) == Kind::SecurityStatusNotSatisfied);
        conn.take();
        conn.card.sign_verified = true;  // e.g. another program's VERIFY in between
        CHECK(applet.sign(PinRole::Sign, digest_info, KeySelection::KeepPrevious).size() == 256);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x001A), sign_apdu});
    }
}

TEST_CASE("sign with KeepPrevious inside one transaction", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    applet.verify(PinRole::Auth, pin("1234"));
    conn.take();
    const Bytes digest_info(51, 0x31);
    const std::string sign_apdu = "802A008033" + hex(digest_info) + "00";
    applet.in_transaction([&] {
        (void)applet.sign(PinRole::Auth, digest_info);
        (void)applet.sign(PinRole::Auth, digest_info, KeySelection::KeepPrevious);
        (void)applet.sign(PinRole::Auth, digest_info);  // the EF this transaction selected is still current
    });
    CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), sign_apdu, sign_apdu, sign_apdu});
}

TEST_CASE("sign: input outside 1..245 bytes sends nothing", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    CHECK(kind_of([&] { (void)applet.sign(PinRole::Auth, Bytes(246, 0x01)); }) == Kind::WrongLength);
    CHECK(kind_of([&] { (void)applet.sign(PinRole::Sign, Bytes{}); }) == Kind::WrongLength);
    CHECK(kind_of([&] { (void)applet.sign_pss_sha256(PinRole::Auth, Bytes(31, 0x01)); }) == Kind::WrongLength);
    CHECK(kind_of([&] { (void)applet.sign_pss_sha256(PinRole::Auth, Bytes(33, 0x01)); }) == Kind::WrongLength);
    CHECK(conn.sent.empty());
    CHECK(conn.begins == 0);
}

TEST_CASE("sign without a verified PIN: 6982 -> SecurityStatusNotSatisfied, no PIN sent", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    REQUIRE(applet.probe());
    conn.take();
    CHECK(kind_of([&] { (void)applet.sign(PinRole::Sign, Bytes(51, 0x31)); }) == Kind::SecurityStatusNotSatisfied);
    const auto sent = conn.take();
    REQUIRE(sent.size() == 2);
    CHECK(sent[0] == select_ef(0x001A));
}

TEST_CASE("sign on an applet that never selected the AP: SecurityStateLost, nothing sent", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    CHECK(kind_of([&] { (void)applet.sign(PinRole::Auth, Bytes(51, 0x31)); }) == Kind::SecurityStateLost);
    CHECK(kind_of([&] { (void)applet.read_certificate(ef::sign_certificate); }) == Kind::SecurityStateLost);
    CHECK(conn.sent.empty());
    CHECK(conn.ends == conn.begins);
}

TEST_CASE("PSS: P1 04 over a 32-byte hash, 6A86 -> FunctionNotSupported", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    applet.verify(PinRole::Auth, pin("1234"));
    conn.take();
    const Bytes hash(32, 0xAA);
    CHECK(kind_of([&] { (void)applet.sign_pss_sha256(PinRole::Auth, hash); }) == Kind::FunctionNotSupported);
    CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), "802A048020" + hex(hash) + "00"});
    conn.card.pss = true;
    CHECK(applet.sign_pss_sha256(PinRole::Auth, hash).size() == 256);
}

TEST_CASE("an EF select answering 6A82 after another program moved the card: AP reselected, epoch moves",
          "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    REQUIRE(applet.probe());
    applet.verify(PinRole::Auth, pin("1234"));
    conn.take();
    const auto epoch = applet.security_epoch();
    conn.card.select_other_applet();  // between our transactions

    SECTION("a free read: reselect, retry once, carry on") {
        CHECK(applet.read_certificate(ef::auth_ca_certificate) == fake_certificate(1000, 2));
        const auto sent = conn.take();
        REQUIRE(sent.size() >= 4);
        CHECK(std::vector<std::string>(sent.begin(), sent.begin() + 4) ==
              std::vector<std::string>{select_ef(0x000B), select_ap, select_ef(0x000B), "00B0000000"});
        CHECK(applet.security_epoch() == epoch + 1);
    }
    SECTION("a sign: reselect and retry the EF, but no COMPUTE DIGITAL SIGNATURE") {
        CHECK(kind_of([&] { (void)applet.sign(PinRole::Auth, Bytes(51, 0x31)); }) == Kind::SecurityStateLost);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017), select_ap, select_ef(0x0017)});
        CHECK(applet.security_epoch() == epoch + 1);
        // After a new login the sign goes through, without another AP select.
        applet.verify(PinRole::Auth, pin("1234"));
        conn.take();
        CHECK(applet.sign(PinRole::Auth, Bytes(51, 0x31)).size() == 256);
        CHECK(conn.take().front() == select_ef(0x0017));
    }
    SECTION("tries left: reselect and carry on") {
        CHECK(applet.tries_left(PinRole::Sign) == 5);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x001B), select_ap, select_ef(0x001B), verify_status});
        CHECK(applet.security_epoch() == epoch + 1);
    }
}

TEST_CASE("a genuinely absent EF: 6A82 after the retry is FileNotFound", "[card][applet]") {
    FakeConnection conn;
    conn.card.remove_sign_certificate();
    JpkiApplet applet(conn, short_reads);
    REQUIRE(applet.probe());
    conn.take();
    SECTION("AP remembered from an earlier transaction: one reselect, then FileNotFound") {
        CHECK(kind_of([&] { (void)applet.tries_left(PinRole::Sign); }) == Kind::FileNotFound);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x001B), select_ap, select_ef(0x001B)});
    }
    SECTION("AP selected in this transaction: no reselect") {
        CHECK(kind_of([&] { applet.verify(PinRole::Sign, pin("ABC123")); }) == Kind::FileNotFound);
        CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x001B)});
        CHECK(applet.security_epoch() == 0);
    }
}

TEST_CASE("card reset: reconnect, selection forgotten, epoch moves, free operations re-run", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    REQUIRE(applet.probe());
    conn.take();

    SECTION("reset seen at begin_transaction during a certificate read") {
        conn.resets_at_begin = 1;
        CHECK(applet.read_certificate(ef::auth_certificate) == fake_certificate(1185, 1));
        CHECK(conn.reconnects == 1);
        CHECK(applet.security_epoch() == 1);
        const auto sent = conn.take();
        REQUIRE(sent.size() == 7);
        CHECK(sent[0] == select_ap);  // selection was forgotten
        CHECK(sent[1] == select_ef(0x000A));
    }
    SECTION("reset in the middle of a read: the read starts over") {
        conn.reset_at_command = "00B0020000";
        CHECK(applet.read_certificate(ef::auth_certificate) == fake_certificate(1185, 1));
        CHECK(conn.reconnects == 1);
        const auto sent = conn.take();
        CHECK(sent.size() == 4 + 7);  // select EF, 2 reads, the failed one; then everything again
        CHECK(sent[4] == select_ap);
    }
    SECTION("three resets in a row are survived (other programs' logout-resets)") {
        conn.resets_at_begin = 3;
        CHECK(applet.tries_left(PinRole::Auth) == 3);
        CHECK(conn.reconnects == 3);
    }
    SECTION("another reset while re-synchronising after one is part of the same recovery") {
        conn.resets_at_begin = 1;
        conn.resets_at_reconnect = 2;
        CHECK(applet.tries_left(PinRole::Auth) == 3);
        CHECK(conn.reconnects == 3);
    }
    SECTION("four resets in a row: SecurityStateLost") {
        conn.resets_at_begin = 4;
        CHECK(kind_of([&] { (void)applet.tries_left(PinRole::Auth); }) == Kind::SecurityStateLost);
        CHECK(conn.reconnects == 4);
        CHECK(applet.security_epoch() == 4);
    }
    CHECK(conn.ends == conn.begins);
}

TEST_CASE("card reset under a login: the sign is refused, nothing is sent", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    applet.verify(PinRole::Auth, pin("1234"));
    conn.take();
    SECTION("at begin_transaction") {
        conn.resets_at_begin = 1;
        CHECK(kind_of([&] { (void)applet.sign(PinRole::Auth, Bytes(51, 0x31)); }) == Kind::SecurityStateLost);
        CHECK(conn.sent.empty());
    }
    SECTION("at the key EF select") {
        conn.reset_at_command = select_ef(0x0017);
        CHECK(kind_of([&] { (void)applet.sign(PinRole::Auth, Bytes(51, 0x31)); }) == Kind::SecurityStateLost);
        CHECK(conn.take() == std::vector<std::string>{select_ef(0x0017)});
    }
    CHECK(conn.reconnects == 1);
    CHECK(applet.security_epoch() == 1);
    // After a new login, signing works again.
    applet.verify(PinRole::Auth, pin("1234"));
    CHECK(applet.sign(PinRole::Auth, Bytes(51, 0x31)).size() == 256);
}

TEST_CASE("card reset and VERIFY: a PIN already sent is never sent again", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    SECTION("reset at the VERIFY itself") {
        conn.reset_at_command = verify_1234;
        CHECK(kind_of([&] { applet.verify(PinRole::Auth, pin("1234")); }) == Kind::SecurityStateLost);
        const auto sent = conn.take();
        CHECK(std::count(sent.begin(), sent.end(), verify_1234) == 1);
        CHECK(conn.reconnects == 1);
    }
    SECTION("reset before anything was sent: the VERIFY goes out once") {
        conn.resets_at_begin = 1;
        applet.verify(PinRole::Auth, pin("1234"));
        CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x0018), verify_1234});
        CHECK(applet.security_epoch() == 1);  // the caller records the epoch after the VERIFY
        CHECK(conn.card.auth_verified);
    }
    SECTION("reset between VERIFY old and CHANGE REFERENCE DATA") {
        conn.reset_at_command = "00240180";
        CHECK(kind_of([&] { applet.change_pin(PinRole::Auth, pin("1234"), pin("5678")); }) == Kind::SecurityStateLost);
        const auto sent = conn.take();
        CHECK(std::count(sent.begin(), sent.end(), verify_1234) == 1);
        CHECK(conn.card.auth_pin == "1234");
    }
}

TEST_CASE("card removed and service errors pass through unchanged", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    REQUIRE(applet.probe());
    conn.take();
    conn.removed = true;
    CHECK_THROWS_AS(applet.read_certificate(ef::auth_certificate), transport::CardRemoved);
    CHECK(conn.reconnects == 0);
    conn.removed = false;
    // Selection was forgotten on the error: the next read selects the AP.
    (void)applet.read_certificate(ef::auth_certificate);
    CHECK(conn.take().front() == select_ap);
}

TEST_CASE("forget_selection: the next free read selects the AP, a sign needs a new VERIFY", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    applet.verify(PinRole::Auth, pin("1234"));
    conn.take();
    applet.forget_selection();
    CHECK(kind_of([&] { (void)applet.sign(PinRole::Auth, Bytes(51, 0x31)); }) == Kind::SecurityStateLost);
    CHECK(conn.take().empty());
    CHECK(applet.tries_left(PinRole::Auth) == 3);
    CHECK(conn.take().front() == select_ap);
}

TEST_CASE("change_pin: VERIFY old then CHANGE REFERENCE DATA new", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    applet.change_pin(PinRole::Sign, pin("abc123"), pin("newpin99"));
    CHECK(conn.take() == std::vector<std::string>{select_ap, select_ef(0x001B), verify_abc123,
                                                  "00240180084E455750494E3939"});
    CHECK(conn.card.sign_pin == "NEWPIN99");
    CHECK(kind_of([&] { applet.change_pin(PinRole::Sign, pin("ABC123"), pin("OTHER1")); }) == Kind::PinIncorrect);
    const auto sent = conn.take();
    CHECK(sent.size() == 3);  // no CHANGE REFERENCE DATA after a failed VERIFY
}

TEST_CASE("get_challenge: up to 256 bytes per GET CHALLENGE", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    CHECK(applet.get_challenge(0).empty());
    CHECK(conn.begins == 0);
    CHECK(applet.get_challenge(8).size() == 8);
    CHECK(conn.take() == std::vector<std::string>{select_ap, "0084000008"});
    CHECK(applet.get_challenge(300).size() == 300);
    CHECK(conn.take() == std::vector<std::string>{"0084000000", "008400002C"});
    conn.script["0084000010"] = {"01029000"};
    CHECK(kind_of([&] { (void)applet.get_challenge(16); }) == Kind::InvalidResponse);
}

TEST_CASE("61xx answers are completed with GET RESPONSE", "[card][applet]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    conn.script["0084000004"] = {"0102" "6102"};
    conn.script["00C0000002"] = {"0304" "9000"};
    CHECK(hex(applet.get_challenge(4)) == "01020304");
}

TEST_CASE("owning form takes the connection", "[card][applet]") {
    auto owned = std::make_unique<FakeConnection>();
    FakeConnection* raw = owned.get();
    JpkiApplet applet(std::move(owned));
    CHECK(&applet.connection() == raw);
    CHECK(applet.probe());
    CHECK_THROWS_AS(JpkiApplet(std::unique_ptr<transport::Connection>()), std::invalid_argument);
}

// ---- whole files in one READ BINARY (issue 11, docs/card.md "Longer reads, fewer APDUs") ----

namespace {

Bytes der_of(const MiniCard& card, std::uint16_t fid) {
    const Bytes& content = card.files.at(fid);
    const std::size_t total = 4 + ((std::size_t{content[2]} << 8) | content[3]);
    return Bytes(content.begin(), content.begin() + static_cast<long>(total));
}

const std::string whole_by_sfi_0a = "00B08A00000000";
const std::string whole_current = "00B00000000000";

}  // namespace

TEST_CASE("whole files: short EF identifier + extended Le, one APDU per file", "[card][applet][read-plan]") {
    FakeConnection conn;
    conn.card.short_ef_id = true;
    conn.card.extended = true;
    JpkiApplet applet(conn);
    REQUIRE(applet.probe());
    CHECK(conn.take() == std::vector<std::string>{select_ap, "00B0860020"});
    CHECK(applet.has_sign_certificate());
    CHECK(conn.take() == std::vector<std::string>{"00B0880003"});
    CHECK(applet.read_certificate(ef::auth_certificate) == der_of(conn.card, ef::auth_certificate));
    CHECK(conn.take() == std::vector<std::string>{whole_by_sfi_0a});
    CHECK(applet.read_certificate(ef::auth_ca_certificate) == der_of(conn.card, ef::auth_ca_certificate));
    CHECK(conn.take() == std::vector<std::string>{"00B08B00000000"});
    CHECK(applet.read_plan().short_ef_id() == Support::Yes);
    CHECK(applet.read_plan().extended() == Support::Yes);
}

TEST_CASE("whole files: a card refusing short EF identifiers gets SELECT EF + extended Le", "[card][applet][read-plan]") {
    FakeConnection conn;
    conn.card.extended = true;  // P1 bit 8 is an offset to this card: 6B00
    JpkiApplet applet(conn);
    REQUIRE(applet.probe());
    CHECK(conn.take() == std::vector<std::string>{select_ap, "00B0860020", select_ef(0x0006), "00B0000020"});
    CHECK(applet.read_plan().short_ef_id() == Support::No);
    CHECK(applet.read_certificate(ef::auth_certificate) == der_of(conn.card, ef::auth_certificate));
    CHECK(conn.take() == std::vector<std::string>{select_ef(0x000A), whole_current});
    CHECK(applet.read_plan().extended() == Support::Yes);
}

TEST_CASE("whole files: a card refusing extended Le (6700) falls back to short reads, once", "[card][applet][read-plan]") {
    FakeConnection conn;
    conn.card.short_ef_id = true;
    JpkiApplet applet(conn);
    REQUIRE(applet.probe());
    conn.take();
    CHECK(applet.read_certificate(ef::auth_certificate) == der_of(conn.card, ef::auth_certificate));
    // 1185 bytes: refused whole read, then today's SELECT + 5 short reads.
    CHECK(conn.take() == std::vector<std::string>{whole_by_sfi_0a, select_ef(0x000A), "00B0000000", "00B0010000",
                                                  "00B0020000", "00B0030000", "00B00400A1"});
    CHECK(applet.read_plan().extended() == Support::No);
    CHECK(applet.read_plan().short_ef_id() == Support::Yes);
    // Remembered: the next certificate goes straight to the short reads.
    CHECK(applet.read_certificate(ef::auth_ca_certificate) == der_of(conn.card, ef::auth_ca_certificate));
    const auto next = conn.take();
    REQUIRE_FALSE(next.empty());
    CHECK(next.front() == select_ef(0x000B));
    CHECK(conn.begins == conn.ends);
}

TEST_CASE("whole files: both refused and nothing known yet: each form tried once, in one transaction",
          "[card][applet][read-plan]") {
    FakeConnection conn;
    JpkiApplet applet(conn);
    CHECK(applet.read_certificate(ef::auth_certificate) == der_of(conn.card, ef::auth_certificate));
    CHECK(conn.take() == std::vector<std::string>{select_ap, whole_by_sfi_0a, select_ef(0x000A), whole_current,
                                                  "00B0000000", "00B0010000", "00B0020000", "00B0030000",
                                                  "00B00400A1"});
    CHECK(conn.begins == 1);
    // The 6700 to both whole reads blames the extended Le; short EF identifiers are still open.
    CHECK(applet.read_plan().extended() == Support::No);
    CHECK(applet.read_plan().short_ef_id() == Support::Unknown);
    REQUIRE(applet.probe());
    CHECK(conn.take() == std::vector<std::string>{select_ap, "00B0860020", select_ef(0x0006), "00B0000020"});
    CHECK(applet.read_plan().short_ef_id() == Support::No);
}

TEST_CASE("whole files: a reader refusing extended APDUs: short reads in the same transaction", "[card][applet][read-plan]") {
    FakeConnection conn;
    conn.card.short_ef_id = true;
    conn.card.extended = true;
    conn.reader_short_only = true;
    JpkiApplet applet(conn);
    REQUIRE(applet.probe());
    conn.take();
    CHECK(applet.read_certificate(ef::auth_certificate) == der_of(conn.card, ef::auth_certificate));
    CHECK(conn.refused == std::vector<std::string>{whole_by_sfi_0a});
    CHECK(conn.take() == std::vector<std::string>{select_ef(0x000A), "00B0000000", "00B0010000", "00B0020000",
                                                  "00B0030000", "00B00400A1"});
    CHECK(conn.begins == 2);
    CHECK(conn.reconnects == 0);
    CHECK(applet.read_plan().extended() == Support::No);
    // Never again for this connection.
    CHECK(applet.read_certificate(ef::sign_ca_certificate) == der_of(conn.card, ef::sign_ca_certificate));
    CHECK(conn.refused.size() == 1);
}

TEST_CASE("whole files: every card and reader variant gives the same certificates", "[card][applet][read-plan]") {
    for (const bool sfi : {true, false}) {
        for (const bool extended : {true, false}) {
            for (const bool reader_short : {false, true}) {
                CAPTURE(sfi, extended, reader_short);
                FakeConnection conn;
                conn.card.short_ef_id = sfi;
                conn.card.extended = extended;
                conn.reader_short_only = reader_short;
                JpkiApplet applet(conn);
                REQUIRE(applet.probe());
                CHECK(applet.probe()->label == "JPKIAPICCTOKEN2");
                CHECK(applet.has_sign_certificate());
                for (const auto fid : {ef::auth_certificate, ef::auth_ca_certificate, ef::sign_ca_certificate}) {
                    CHECK(applet.read_certificate(fid) == der_of(conn.card, fid));
                }
                applet.verify(PinRole::Sign, pin("ABC123"));
                CHECK(applet.read_certificate(ef::sign_certificate) == der_of(conn.card, ef::sign_certificate));
            }
        }
    }
}

TEST_CASE("whole files: EF 0001 keeps its rules (no AP select, 6982 tried once)", "[card][applet][read-plan]") {
    FakeConnection conn;
    conn.card.short_ef_id = true;
    conn.card.extended = true;
    JpkiApplet applet(conn);
    // Unknown AP selection: nothing sent.
    CHECK(kind_of([&] { applet.read_certificate(ef::sign_certificate); }) == Kind::SecurityStateLost);
    CHECK(conn.take().empty());
    REQUIRE(applet.probe());
    conn.take();
    // Before the sign password: one refused read, no other form tried, the plan unchanged.
    CHECK(kind_of([&] { applet.read_certificate(ef::sign_certificate); }) == Kind::SecurityStatusNotSatisfied);
    CHECK(conn.take() == std::vector<std::string>{"00B08100000000"});
    applet.verify(PinRole::Sign, pin("ABC123"));
    conn.take();
    CHECK(applet.read_certificate(ef::sign_certificate) == der_of(conn.card, ef::sign_certificate));
    CHECK(conn.take() == std::vector<std::string>{"00B08100000000"});
}

TEST_CASE("whole files: an absent EF 0008 by short EF identifier says nothing about SFIs", "[card][applet][read-plan]") {
    FakeConnection conn;
    conn.card.short_ef_id = true;
    conn.card.files.erase(ef::certificate_flags);
    JpkiApplet applet(conn);
    REQUIRE(applet.probe());
    conn.take();
    CHECK(applet.has_sign_certificate());
    CHECK(conn.take() == std::vector<std::string>{"00B0880003", select_ef(0x0008), select_ef(0x0001)});
    CHECK(applet.read_plan().short_ef_id() == Support::Yes);
}

TEST_CASE("prove_pss: proven, refused (6A86), or a signature that does not verify (nothing learnt)",
          "[card][applet][pss]") {
    FakeConnection conn;
    JpkiApplet applet(conn, short_reads);
    applet.verify(PinRole::Auth, pin("1234"));
    const Bytes hash(32, 0x5A);
    const auto accept = [](std::span<const std::uint8_t>, std::span<const std::uint8_t>) { return true; };
    const auto reject = [](std::span<const std::uint8_t>, std::span<const std::uint8_t>) { return false; };
    conn.card.pss = true;
    CHECK(jpki::card::prove_pss(applet, PinRole::Auth, hash, accept) == jpki::card::PssProof::Proven);
    // A garbled answer is not the card saying no.
    CHECK(jpki::card::prove_pss(applet, PinRole::Auth, hash, reject) == jpki::card::PssProof::NotVerified);
    conn.card.pss = false;
    CHECK(jpki::card::prove_pss(applet, PinRole::Auth, hash, accept) == jpki::card::PssProof::Refused);
    CHECK_THROWS_AS(jpki::card::prove_pss(applet, PinRole::Auth, Bytes(31, 0), accept), std::invalid_argument);
}
