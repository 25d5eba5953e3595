// Certificates as the card holder sees them (certificates.hpp).
#include "cli/certificates.hpp"

#include "cli/cli.hpp"
#include "cli/i18n.hpp"
#include "crypto/error.hpp"
#include "crypto/ossl.hpp"

#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <fmt/format.h>
#include <memory>
#include <string_view>

namespace jpki::cli {

namespace {

using GeneralNames = std::unique_ptr<GENERAL_NAMES, crypto::ossl::Deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;

Bytes read_pem_certificate(const std::filesystem::path& path) {
    const crypto::ossl::Bio bio(BIO_new_file(path.c_str(), "r"));
    crypto::ossl::X509Ptr x509(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!x509)
        throw CliError(ExitCode::Failure, msg(tr("Cannot read the CA certificate file {}."), path.string()));
    const int length = i2d_X509(x509.get(), nullptr);
    if (length <= 0)
        throw CliError(ExitCode::Failure, msg(tr("Cannot read the CA certificate file {}."), path.string()));
    Bytes der(static_cast<std::size_t>(length));
    unsigned char* p = der.data();
    i2d_X509(x509.get(), &p);
    return der;
}

// The eras of the JPKI birth date's first digit (docs/card.md: E era 1-5) and their first year.
struct Era {
    const char* name;  // Japanese only: the era name is shown in Japanese text only
    int first_year;
};
constexpr std::array<Era, 5> eras = {{{"明治", 1868}, {"大正", 1912}, {"昭和", 1926}, {"平成", 1989}, {"令和", 2019}}};

struct BirthDate {
    int era;  // 1..5
    JapanDate date;
};

std::optional<BirthDate> parse_birth_date(const std::string& encoded) {
    if (encoded.size() != 9 || !std::all_of(encoded.begin(), encoded.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    const int era = encoded[0] - '0';
    const int year = std::stoi(encoded.substr(1, 4));
    const auto month = static_cast<unsigned>(std::stoi(encoded.substr(5, 2)));
    const auto day = static_cast<unsigned>(std::stoi(encoded.substr(7, 2)));
    const JapanDate date{std::chrono::year(year), std::chrono::month(month), std::chrono::day(day)};
    if (era < 1 || era > static_cast<int>(eras.size()) || !date.ok()) return std::nullopt;
    return BirthDate{era, date};
}

}  // namespace

std::vector<CaFile> load_ca_files(crypto::Context& context, card::PinRole role) {
    const std::string prefix = role == card::PinRole::Auth ? "auth_ca_" : "sign_ca_";
    std::vector<std::filesystem::path> paths;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(data_paths().ca_dir, error)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with(prefix) && name.ends_with(".pem") && name.size() > prefix.size() + 4)
            paths.push_back(entry.path());
    }
    std::sort(paths.begin(), paths.end());
    std::vector<CaFile> cas;
    for (const auto& path : paths) {
        const std::string name = path.filename().string();
        std::string generation = name.substr(prefix.size(), name.size() - prefix.size() - 4);
        try {
            cas.push_back(CaFile{std::move(generation), path, crypto::Certificate(context, read_pem_certificate(path))});
        } catch (const crypto::Error&) {
            throw CliError(ExitCode::Failure, msg(tr("Cannot read the CA certificate file {}."), path.string()));
        }
    }
    return cas;
}

void require_ca_files(const std::vector<CaFile>& auth_cas, const std::vector<CaFile>& sign_cas) {
    if (auth_cas.empty() && sign_cas.empty())
        throw CliError(ExitCode::Failure, msg(tr("No CA certificates named auth_ca_*.pem or sign_ca_*.pem in {}."),
                                              data_paths().ca_dir.string()));
}

const CaFile* find_issuer(const std::vector<CaFile>& cas, const crypto::Certificate& certificate) {
    for (const auto& ca : cas) {
        try {
            if (certificate.issued_by(ca.certificate)) return &ca;
        } catch (const crypto::Error&) {
            // A CA whose key we cannot use (not RSA) did not issue this one.
        }
    }
    return nullptr;
}

std::string issuer_text(const CaFile* issuer) {
    if (issuer == nullptr) return tr("unknown issuer");
    return msg(tr("J-LIS, generation {0} ({1})"), issuer->generation, issuer->path.filename().string());
}

JapanDate japan_date(std::chrono::system_clock::time_point when) {
    // Japan has no daylight saving time: UTC+9 all year.
    return JapanDate{std::chrono::floor<std::chrono::days>(when + std::chrono::hours(9))};
}

std::string format_date(const JapanDate& date) {
    const int year = static_cast<int>(date.year());
    const auto month = static_cast<unsigned>(date.month());
    const auto day = static_cast<unsigned>(date.day());
    if (japanese()) return fmt::format("{}年{}月{}日", year, month, day);
    return fmt::format("{:04}-{:02}-{:02}", year, month, day);
}

std::string iso_date(const JapanDate& date) {
    return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                       static_cast<unsigned>(date.day()));
}

JapanDate renewal_opens(const JapanDate& last_day) {
    const JapanDate earlier = last_day - std::chrono::months(3);
    if (earlier.ok()) return earlier;
    return JapanDate{std::chrono::year_month_day_last(earlier.year(), std::chrono::month_day_last(earlier.month()))};
}

Expiry expiry_of(const crypto::Certificate& certificate, std::chrono::system_clock::time_point now) {
    Expiry e;
    const auto not_after = certificate.not_after();
    e.last_day = japan_date(not_after);
    e.renewal_from = renewal_opens(e.last_day);
    const JapanDate today = japan_date(now);
    e.days_left = (std::chrono::sys_days(e.last_day) - std::chrono::sys_days(today)).count();
    e.expired = now > not_after;
    e.renewal_open = !e.expired && std::chrono::sys_days(today) >= std::chrono::sys_days(e.renewal_from);
    return e;
}

std::optional<Holder> decode_holder(crypto::ByteView certificate_der) {
    const unsigned char* p = certificate_der.data();
    const crypto::ossl::X509Ptr x509(d2i_X509(nullptr, &p, static_cast<long>(certificate_der.size())));
    if (!x509) throw crypto::Error("parsing the signing certificate");
    const GeneralNames names(
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x509.get(), NID_subject_alt_name, nullptr, nullptr)));
    if (!names) return std::nullopt;
    Holder holder;
    bool found = false;
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
        if (name->type != GEN_OTHERNAME) continue;
        const OTHERNAME* other = name->d.otherName;
        std::array<char, 64> oid{};
        if (OBJ_obj2txt(oid.data(), static_cast<int>(oid.size()), other->type_id, 1) <= 0) continue;
        // The value is [0] EXPLICIT UTF8String; OpenSSL has already removed the [0].
        if (other->value == nullptr || other->value->type != V_ASN1_UTF8STRING) continue;
        const ASN1_STRING* text = other->value->value.utf8string;
        std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                          static_cast<std::size_t>(ASN1_STRING_length(text)));
        const std::string_view id(oid.data());
        std::string* field = id == "1.2.392.200149.8.5.5.1"   ? &holder.name
                             : id == "1.2.392.200149.8.5.5.3" ? &holder.sex
                             : id == "1.2.392.200149.8.5.5.4" ? &holder.birth_date
                             : id == "1.2.392.200149.8.5.5.5" ? &holder.address
                                                              : nullptr;
        if (field == nullptr) continue;
        *field = std::move(value);
        found = true;
    }
    if (!found) return std::nullopt;
    return holder;
}

std::string format_birth_date(const std::string& encoded) {
    const auto birth = parse_birth_date(encoded);
    if (!birth) return encoded;
    if (!japanese()) return iso_date(birth->date);
    const Era& era = eras.at(static_cast<std::size_t>(birth->era - 1));
    const int era_year = static_cast<int>(birth->date.year()) - era.first_year + 1;
    const std::string era_year_text = era_year == 1 ? std::string("元") : std::to_string(era_year);
    return fmt::format("{}（{}{}年）", format_date(birth->date), era.name, era_year_text);
}

std::string iso_birth_date(const std::string& encoded) {
    const auto birth = parse_birth_date(encoded);
    return birth ? iso_date(birth->date) : encoded;
}

std::string format_sex(const std::string& code) {
    if (code == "1") return tr("male");
    if (code == "2") return tr("female");
    if (code == "9") return tr("not applicable");
    return code;
}

std::string certificate_name(card::PinRole role) {
    return role == card::PinRole::Auth ? tr("authentication certificate") : tr("signing certificate");
}

std::string to_pem(crypto::ByteView der) {
    const unsigned char* p = der.data();
    const crypto::ossl::X509Ptr x509(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    const crypto::ossl::Bio bio(BIO_new(BIO_s_mem()));
    if (!x509 || !bio || PEM_write_bio_X509(bio.get(), x509.get()) != 1) throw crypto::Error("writing PEM");
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return length > 0 ? std::string(data, static_cast<std::size_t>(length)) : std::string();
}

std::size_t display_width(std::string_view text) {
    std::size_t width = 0;
    for (std::size_t i = 0; i < text.size();) {
        const auto lead = static_cast<unsigned char>(text[i]);
        const std::size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
        char32_t code = lead < 0x80 ? lead : lead < 0xE0 ? lead & 0x1FU : lead < 0xF0 ? lead & 0x0FU : lead & 0x07U;
        for (std::size_t k = 1; k < length && i + k < text.size(); ++k)
            code = (code << 6U) | (static_cast<unsigned char>(text[i + k]) & 0x3FU);
        i += length;
        if ((code & 0xC0U) == 0x80U && lead >= 0x80 && lead < 0xC0) continue;  // stray continuation byte
        // Wide: CJK, kana, full-width forms (not the half-width katakana FF61-FF9F).
        const bool wide = (code >= 0x1100 && code <= 0x115F) || (code >= 0x2E80 && code <= 0xA4CF) ||
                          (code >= 0xAC00 && code <= 0xD7A3) || (code >= 0xF900 && code <= 0xFAFF) ||
                          (code >= 0xFE30 && code <= 0xFE4F) || (code >= 0xFF00 && code <= 0xFF60) ||
                          (code >= 0xFFE0 && code <= 0xFFE6) || (code >= 0x20000 && code <= 0x3FFFD);
        width += wide ? 2 : 1;
    }
    return width;
}

std::string pad(std::string_view text, std::size_t width) {
    std::string out(text);
    const std::size_t used = display_width(text);
    if (used < width) out.append(width - used, ' ');
    return out;
}

}  // namespace jpki::cli
