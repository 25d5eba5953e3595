// The per-user cache of what cards and readers have shown (docs/design.md §6 "Card cache";
// issues 11 and 12): whether a card's key has proven RSA-PSS, and which READ BINARY forms a card
// takes through a reader. Facts only, nothing personal: each record is named by a SHA-256 of what
// identifies it (the token serial; the reader name and ATR), never by the serial or a name, and
// holds `key = value` lines of fixed vocabulary.
//
// Where: $XDG_CACHE_HOME/jpki-pkcs11/ (absolute), else $HOME/.cache/jpki-pkcs11/; neither set: no
// cache. Folder 0700, files 0600, each written whole to a temporary file and renamed, so a reader
// never sees half a record; two processes writing the same record: the last one wins (both wrote
// true facts).
//
// Never throws and never stops the caller: a missing, corrupt or unreadable record reads as
// Unknown; a folder that cannot be made or written keeps nothing. Each problem is told once per
// cache object to `warn` (one line, no secret in it: a path and the system's reason).
// Not thread-safe: one per card under the card's I/O lock, or one per CLI run.
#pragma once

#include "card/read_plan.hpp"
#include "crypto/bytes.hpp"
#include "crypto/context.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace jpki::cache {

enum class Fact : std::uint8_t { Unknown, Yes, No };

// Which of a card's keys a PSS fact is about.
enum class Key : std::uint8_t { Auth, Sign };

// What a card, through one reader, was found to take for READ BINARY (card/read_plan.hpp).
struct ReadForms {
    Fact short_ef_id = Fact::Unknown;
    Fact extended = Fact::Unknown;
    friend bool operator==(const ReadForms&, const ReadForms&) = default;
};

// The ReadPlan a card starts from when the cache knew `known` for it. A recorded Yes is a
// starting point, not a promise: a card that refuses the form still falls back inside the same
// read (card/read_plan.hpp), and record_lessons() corrects the record.
card::ReadPlan read_plan_from(const ReadForms& known) noexcept;

class CardCache {
public:
    using Warn = std::function<void(const std::string& problem)>;

    // $XDG_CACHE_HOME/jpki-pkcs11 when XDG_CACHE_HOME is an absolute path, else
    // $HOME/.cache/jpki-pkcs11 when HOME is; nullopt otherwise (XDG Base Directory spec).
    static std::optional<std::filesystem::path> user_folder();

    // `folder` nullopt: a cache that knows nothing and keeps nothing (every read Unknown).
    // The folder is made (0700) on the first write, not here.
    CardCache(crypto::Context& crypto, std::optional<std::filesystem::path> folder, Warn warn);

    // Whether the card with this token serial (CK_TOKEN_INFO.serialNumber, 16 hex digits) has
    // signed with RSA-PSS (COMPUTE DIGITAL SIGNATURE P1 04) with `key` and the signature verified
    // under its certificate (Yes), or refused or failed (No).
    [[nodiscard]] Fact pss(std::string_view token_serial, Key key) const;
    // Returns whether the fact was written (false: no folder, or a problem told to `warn`).
    bool set_pss(std::string_view token_serial, Key key, bool proven);

    // The READ BINARY forms learnt for this card model (ATR) in this reader (PC/SC reader name).
    [[nodiscard]] ReadForms read_forms(std::string_view reader, crypto::ByteView atr) const;
    // Records what is Yes or No in `forms`; an Unknown leaves that fact as recorded.
    void set_read_forms(std::string_view reader, crypto::ByteView atr, const ReadForms& forms);
    // Records what `plan` has learnt beyond `recorded` (what the caller knows the record holds:
    // what read_forms() gave, then what this call left), and updates `recorded`. Nothing is
    // written when nothing is new (two comparisons). Never throws.
    void record_lessons(std::string_view reader, crypto::ByteView atr, const card::ReadPlan& plan,
                        ReadForms& recorded);

    [[nodiscard]] const std::optional<std::filesystem::path>& folder() const noexcept { return folder_; }

private:
    // Tells `problem` to `warn` unless it is empty or a problem was told already; never throws.
    void tell(const std::string& problem) const noexcept;

    crypto::Context& crypto_;
    std::optional<std::filesystem::path> folder_;
    Warn warn_;
    mutable bool warned_ = false;  // one warning per object
};

}  // namespace jpki::cache
