// Placeholder until the implementation lands: knows nothing, keeps nothing.
#include "cache/card_cache.hpp"

namespace jpki::cache {

std::optional<std::filesystem::path> CardCache::user_folder() { return std::nullopt; }

CardCache::CardCache(crypto::Context& crypto, std::optional<std::filesystem::path> folder, Warn warn)
    : crypto_(crypto), folder_(std::move(folder)), warn_(std::move(warn)) {}

Fact CardCache::pss(std::string_view /*token_serial*/, Key /*key*/) const { return Fact::Unknown; }
void CardCache::set_pss(std::string_view /*token_serial*/, Key /*key*/, bool /*proven*/) {}
ReadForms CardCache::read_forms(std::string_view /*reader*/, crypto::ByteView /*atr*/) const { return {}; }
void CardCache::set_read_forms(std::string_view /*reader*/, crypto::ByteView /*atr*/, const ReadForms& /*forms*/) {}

}  // namespace jpki::cache
