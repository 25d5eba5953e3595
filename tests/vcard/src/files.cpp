#include "files.hpp"

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string_view>

namespace jpki::vcard {
namespace {

Bytes read_whole_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw std::runtime_error("cannot read " + path);
    return bytes;
}

// Hosts learn a certificate's length only from its `30 82 hh ll` header (docs/card.md,
// "Certificate length"), so the test PKI must produce exactly that form.
Bytes read_certificate(const std::string& path) {
    Bytes der = read_whole_file(path);
    if (der.size() < 4 || der[0] != 0x30 || der[1] != 0x82 ||
        4u + ((std::size_t{der[2]} << 8) | der[3]) != der.size()) {
        throw std::runtime_error(path + ": not a DER certificate of the form 30 82 hh ll");
    }
    return der;
}

void put_padded(Bytes& out, std::string_view text, std::size_t width) {
    for (std::size_t i = 0; i < width; ++i) {
        out.push_back(i < text.size() ? static_cast<std::uint8_t>(text[i]) : ' ');
    }
}

void put_u32(Bytes& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

ElementaryFile binary(Bytes content, std::optional<Pin> read_needs = std::nullopt) {
    ElementaryFile ef;
    ef.kind = FileKind::Binary;
    ef.content = std::move(content);
    ef.read_needs = read_needs;
    return ef;
}

ElementaryFile private_key(RsaKey key, Pin pin) {
    ElementaryFile ef;
    ef.kind = FileKind::PrivateKey;
    ef.pin = pin;
    ef.key = std::move(key);
    return ef;
}

ElementaryFile pin_file(Pin pin) {
    ElementaryFile ef;
    ef.kind = FileKind::PinFile;
    ef.pin = pin;
    return ef;
}

}  // namespace

// Real certificate EFs are larger than their DER (docs/card.md: "filler after the DER
// object"): round up to 256 and add one more block, all 0xFF.
Bytes certificate_file(std::span<const std::uint8_t> der) {
    const std::size_t size = (der.size() + 255) / 256 * 256 + 256;
    Bytes content(der.begin(), der.end());
    content.resize(size, 0xFF);
    return content;
}

// A big-endian serialised CK_TOKEN_INFO, 160 bytes (docs/card.md, EF 0006 [ONE]).
Bytes token_info() {
    Bytes out;
    put_padded(out, "JPKIAPICCTOKEN2", 32);  // label: "My Number Card"
    put_padded(out, "JPKI", 32);             // manufacturerID
    put_padded(out, "JPKIAPICCTOKEN2", 16);  // model (15 chars fit)
    put_padded(out, "0000000000000001", 16); // serialNumber: fixed, not unique (docs/design.md §3)
    put_u32(out, 0x0000040D);  // flags: RNG | LOGIN_REQUIRED | USER_PIN_INITIALIZED | TOKEN_INITIALIZED
    put_u32(out, 0);           // ulMaxSessionCount (effectively infinite)
    put_u32(out, 0);           // ulSessionCount
    put_u32(out, 0);           // ulMaxRwSessionCount
    put_u32(out, 0);           // ulRwSessionCount
    put_u32(out, 16);          // ulMaxPinLen
    put_u32(out, 4);           // ulMinPinLen
    put_u32(out, 0xFFFFFFFF);  // ulTotalPublicMemory (unavailable)
    put_u32(out, 0xFFFFFFFF);  // ulFreePublicMemory
    put_u32(out, 0xFFFFFFFF);  // ulTotalPrivateMemory
    put_u32(out, 0xFFFFFFFF);  // ulFreePrivateMemory
    out.insert(out.end(), {0x01, 0x00});  // hardwareVersion 1.0
    out.insert(out.end(), {0x01, 0x00});  // firmwareVersion 1.0
    put_padded(out, "", 16);              // utcTime: no clock
    return out;
}

FileSystem load_jpki_files(const CardConfig& config) {
    const std::string dir = config.pki_dir.empty() ? std::string(".") : config.pki_dir;
    const auto path = [&](const char* name) { return dir + "/" + name; };

    FileSystem files;
    const Bytes auth_cert = read_certificate(path("auth-cert.der"));
    files[fid::auth_cert] = binary(certificate_file(auth_cert));
    files[fid::auth_ca_cert] = binary(certificate_file(read_certificate(path("auth-ca.der"))));
    files[fid::auth_key] = private_key(RsaKey::load(path("auth-key.pem"), auth_cert), Pin::Auth);
    files[fid::auth_pin] = pin_file(Pin::Auth);
    // Under-15 cards keep the signing CA certificate but have no signing certificate, key or
    // password (docs/card.md, last line of the EF table).
    files[fid::sign_ca_cert] = binary(certificate_file(read_certificate(path("sign-ca.der"))));
    if (config.sign_cert) {
        const Bytes sign_cert = read_certificate(path("sign-cert.der"));
        files[fid::sign_cert] = binary(certificate_file(sign_cert), Pin::Sign);
        files[fid::sign_key] = private_key(RsaKey::load(path("sign-key.pem"), sign_cert), Pin::Sign);
        files[fid::sign_pin] = pin_file(Pin::Sign);
    }
    files[fid::token_info] = binary(token_info());
    // EF 0008: byte 0 = signing certificate present, byte 1 = authentication (docs/card.md).
    files[fid::cert_availability] =
        binary(config.sign_cert ? Bytes{0x8F, 0x8F, 0x00} : Bytes{0x00, 0x8F, 0x00});
    return files;
}

}  // namespace jpki::vcard
