// Messages in the user's language (issue 8): gettext with the text domain "jpki", Japanese when
// the locale is Japanese (LANG/LC_ALL/LC_MESSAGES ja_JP.UTF-8, or LANGUAGE=ja under a non-C
// locale), English otherwise. The catalogue is src/cli/po/*.po; every string passed to tr()/ntr()
// must have its Japanese there (ctest cli.messages-translated checks).
//
// Texts with values use fmt's replacement fields, positional where a translation reorders them:
//   msg(tr("{} tries left"), n)   or   msg(tr("{0} of {1}"), a, b)
// tr() keeps the format string literal for xgettext (keywords: tr, ntr:1,2, noop_tr).
#pragma once

#include <fmt/format.h>

#include <string>

namespace jpki::cli {

// setlocale(LC_ALL, "") and binds the "jpki" domain to data_paths().locale_dir. Call once from
// main(). A locale the system lacks leaves messages in English (never an error).
void init_messages();

// The translation of `english` (or `english` itself).
[[nodiscard]] const char* tr(const char* english) noexcept;
// ngettext: the translation of `singular`/`plural` for n.
[[nodiscard]] const char* ntr(const char* singular, const char* plural, unsigned long n) noexcept;

// Marks a literal for the catalogue where it is translated later (tables): tr(text) then.
constexpr const char* noop_tr(const char* english) noexcept { return english; }

// Is the message language Japanese? (For the few things that are not sentences: date formats.)
[[nodiscard]] bool japanese();

// fmt::format with a format string known only at run time (a translation). A translation whose
// fields do not fit the arguments falls back to the English text instead of throwing.
template <class... T>
[[nodiscard]] std::string msg(const char* format, const T&... values) {
    try {
        return fmt::format(fmt::runtime(format), values...);
    } catch (const fmt::format_error&) {
        return std::string(format);
    }
}

}  // namespace jpki::cli
