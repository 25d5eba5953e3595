// Which form of READ BINARY this card, through this reader, takes for a whole file
// (docs/card.md "Longer reads, fewer APDUs"; issue 11). Two facts are learnt, each Unknown until
// an answer settles it, and kept for the life of the connection (one JpkiApplet):
//  * short EF identifiers: READ BINARY P1 = 80 | SFI reads an EF without SELECT EF;
//  * extended length: READ BINARY with an extended Le (00 00 = up to 65536) answers the whole
//    file, and the reader carries such an APDU.
// A certificate is read with the first form neither fact rules out, in this order:
//   ShortEfIdExtended  00 B0 8S 00 00 00 00                 1 APDU
//   SelectExtended     SELECT EF + 00 B0 00 00 00 00 00      2 APDUs
//   SelectShort        SELECT EF + 256-byte READ BINARYs     1 + ceil(size / 256) APDUs
// A refusal moves down the list, inside the same read: READ BINARY changes no security state, so
// a refused form costs one APDU, once per connection. Small files (EF 0006, EF 0008) need no
// extended Le: they use the short EF identifier alone while it is not ruled out.
// Pure bookkeeping: no I/O, not thread-safe (the applet is used under its card's I/O lock).
#pragma once

#include <cstdint>

namespace jpki::card {

class ReadPlan {
public:
    enum class Support : std::uint8_t { Unknown, Yes, No };
    enum class Form : std::uint8_t { ShortEfIdExtended, SelectExtended, SelectShort };

    ReadPlan() = default;
    // Starting from what is already known (e.g. tests of one form; Unknown = to be learnt).
    ReadPlan(Support short_ef_id, Support extended) noexcept : short_ef_id_(short_ef_id), extended_(extended) {}

    // The form to try next for a whole certificate file.
    [[nodiscard]] Form certificate_form() const noexcept;
    // Whether a small file is read by its short EF identifier (Unknown counts as yes).
    [[nodiscard]] bool use_short_ef_id() const noexcept { return short_ef_id_ != Support::No; }

    // `form` answered the file (9000): what it used works.
    void worked(Form form) noexcept;
    // The card answered `form` with an error status (6700, 6A86, 6B00, 6D00, 6E00, 6981, 6986...).
    void refused_by_card(Form form) noexcept;
    // The reader or pcscd would not carry the extended APDU (transport::ExtendedLengthRefused).
    void refused_by_reader() noexcept { extended_ = Support::No; }
    // A small-file read by short EF identifier answered (true) or was refused (false).
    void short_ef_id_answered(bool worked) noexcept;

    [[nodiscard]] Support short_ef_id() const noexcept { return short_ef_id_; }
    [[nodiscard]] Support extended() const noexcept { return extended_; }

private:
    Support short_ef_id_ = Support::Unknown;
    Support extended_ = Support::Unknown;
    // ShortEfIdExtended was refused while neither fact was known: the short EF identifier is
    // suspected first (SelectExtended is tried next); if SelectExtended is refused too, the
    // extended Le was to blame and the short EF identifier is Unknown again.
    bool short_ef_id_suspected_ = false;
};

}  // namespace jpki::card
