// The card holder's view of the JPKI certificates (issue 8; docs/card.md "Certificates"), shared
// by `jpki status` and `jpki cert`: which J-LIS CA generation issued a certificate, its expiry in
// calendar days, the renewal window, and the holder's data in the signing certificate.
// Layer: cli/ over card/ and crypto/.
//
// Dates are Japan dates (UTC+9, no daylight saving): J-LIS sets the validity in Japan time (a
// certificate ends at 23:59:59 JST on the holder's birthday), and that is the date the city office
// and the card's own papers name, wherever the holder is.
#pragma once

#include "card/pin_policy.hpp"
#include "crypto/bytes.hpp"
#include "crypto/certificate.hpp"
#include "crypto/context.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace jpki::cli {

// One J-LIS CA certificate file of data_paths().ca_dir, named <auth|sign>_ca_<generation>.pem.
struct CaFile {
    std::string generation;  // "2015", "2023", "test"
    std::filesystem::path path;
    crypto::Certificate certificate;
};

// Every <auth|sign>_ca_*.pem of data_paths().ca_dir for `role`'s hierarchy, sorted by file name.
// A missing folder gives an empty list; a file that is not one PEM certificate throws
// CliError(Failure) naming it.
[[nodiscard]] std::vector<CaFile> load_ca_files(crypto::Context& context, card::PinRole role);

// Throws CliError(Failure) naming the expected files ("No CA certificates named auth_ca_*.pem or
// sign_ca_*.pem in DIR.") when both lists are empty: `jpki verify` and `jpki cert verify` would
// otherwise call every certificate "not issued by J-LIS" because of a wrong JPKI_CA_DIR.
void require_ca_files(const std::vector<CaFile>& auth_cas, const std::vector<CaFile>& sign_cas);

// The CA file whose key verifies `certificate`'s signature (generations share a name, so the key
// decides: Certificate::issued_by), or nullptr.
[[nodiscard]] const CaFile* find_issuer(const std::vector<CaFile>& cas, const crypto::Certificate& certificate);

// "J-LIS, generation 2023 (auth_ca_2023.pem)" or "unknown issuer" (translated).
[[nodiscard]] std::string issuer_text(const CaFile* issuer);

// A calendar date in Japan time.
using JapanDate = std::chrono::year_month_day;
[[nodiscard]] JapanDate japan_date(std::chrono::system_clock::time_point when);
// "2031-03-31" in English, "2031年3月31日" in Japanese.
[[nodiscard]] std::string format_date(const JapanDate& date);

// What the holder must know about a certificate's end.
struct Expiry {
    JapanDate last_day;      // the Japan date of not_after
    JapanDate renewal_from;  // first day of the renewal window (renewal_opens(last_day))
    long days_left = 0;      // calendar days from today (Japan) to last_day; 0 on the last day,
                             // negative once expired
    bool expired = false;    // now > not_after
    bool renewal_open = false;  // not expired and today (Japan) >= renewal_from
};

// The municipal guidance reads "renew from three months before expiry" (e.g. the J-LIS 公的個人認証
// サービス portal and city pages: 有効期限の3か月前から更新できます). We take it as calendar months:
// the same day of the month three months earlier, or that month's last day when it has no such
// day (expiry 2031-05-31 -> 2031-02-28). The window opens at the start of that Japan day.
[[nodiscard]] JapanDate renewal_opens(const JapanDate& last_day);

[[nodiscard]] Expiry expiry_of(const crypto::Certificate& certificate, std::chrono::system_clock::time_point now);

// The holder's data in the signing certificate's subjectAltName otherNames (docs/card.md
// "Certificates", arc 1.2.392.200149.8.5.5): decoded for display only, never stored. Fields the
// certificate lacks stay empty.
struct Holder {
    std::string name;        // .1, UTF-8
    std::string sex;         // .3, JIS X 0303 code: "1", "2" or "9"
    std::string birth_date;  // .4, EYYYYMMDD (E: era 1-5, then the Gregorian date)
    std::string address;     // .5, UTF-8
};
// nullopt when the certificate has no such otherName at all. Throws crypto::Error when the DER
// does not parse.
[[nodiscard]] std::optional<Holder> decode_holder(crypto::ByteView certificate_der);

// EYYYYMMDD -> "1985-07-14" / "1985年7月14日（昭和60年）"; the raw text when it does not parse.
[[nodiscard]] std::string format_birth_date(const std::string& encoded);
// JIS X 0303 -> "female"/"女性" ...; the raw code when unknown.
[[nodiscard]] std::string format_sex(const std::string& code);
// ISO 8601 date "2029-07-14" for --json.
[[nodiscard]] std::string iso_date(const JapanDate& date);
// EYYYYMMDD -> "1985-07-14" for --json, or the raw text.
[[nodiscard]] std::string iso_birth_date(const std::string& encoded);

// "authentication certificate" / "signing certificate" (translated), for sentences.
[[nodiscard]] std::string certificate_name(card::PinRole role);

// PEM "CERTIFICATE" text of a DER certificate (64-column base64, as openssl writes it).
[[nodiscard]] std::string to_pem(crypto::ByteView der);

// The number of terminal columns `text` (UTF-8) takes: 2 for East Asian wide characters.
[[nodiscard]] std::size_t display_width(std::string_view text);
// `text` followed by spaces up to `width` columns.
[[nodiscard]] std::string pad(std::string_view text, std::size_t width);

}  // namespace jpki::cli
