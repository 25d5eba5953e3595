// gettext set-up for the `jpki` command (i18n.hpp).
#include "cli/i18n.hpp"

#include "cli/cli.hpp"

#include <libintl.h>

#include <clocale>
#include <cstring>

namespace jpki::cli {

namespace {
constexpr const char* domain = "jpki";
}

void init_messages() {
    std::setlocale(LC_ALL, "");
    bindtextdomain(domain, data_paths().locale_dir.c_str());
    bind_textdomain_codeset(domain, "UTF-8");
    textdomain(domain);
}

const char* tr(const char* english) noexcept { return dgettext(domain, english); }

const char* ntr(const char* singular, const char* plural, unsigned long n) noexcept {
    return dngettext(domain, singular, plural, n);
}

bool japanese() {
    // The catalogue decides: the translation of the language name is "日本語" when messages are
    // Japanese (po/common.po), whatever mix of LANGUAGE/LC_* selected it.
    return std::strcmp(tr("English"), "English") != 0;
}

}  // namespace jpki::cli
