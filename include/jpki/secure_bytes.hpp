// Bytes that hold a secret (a PIN, a password): wiped on destruction and on every reassignment,
// never copied implicitly, never printed. The one type a PIN travels in, from C_Login down to
// the VERIFY APDU (brief: "PINs live in a buffer that is wiped after use").
#pragma once

#include <openssl/crypto.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace jpki {

class SecureBytes {
public:
    SecureBytes() = default;
    explicit SecureBytes(std::span<const std::uint8_t> bytes) : bytes_(bytes.begin(), bytes.end()) {}
    explicit SecureBytes(std::string_view text) : bytes_(text.begin(), text.end()) {}
    ~SecureBytes() { wipe(); }

    SecureBytes(const SecureBytes&) = delete;
    SecureBytes& operator=(const SecureBytes&) = delete;
    SecureBytes(SecureBytes&& other) noexcept : bytes_(std::move(other.bytes_)) { other.bytes_.clear(); }
    SecureBytes& operator=(SecureBytes&& other) noexcept {
        if (this != &other) {
            wipe();
            bytes_ = std::move(other.bytes_);
            other.bytes_.clear();
        }
        return *this;
    }

    // An explicit copy, for the rare place that must keep a PIN (e.g. a retry-free re-VERIFY is
    // NOT one of them: the module never re-sends a PIN on its own).
    [[nodiscard]] SecureBytes clone() const { return SecureBytes(std::span<const std::uint8_t>(bytes_)); }

    [[nodiscard]] std::span<const std::uint8_t> view() const { return bytes_; }
    [[nodiscard]] std::span<std::uint8_t> mutable_view() { return bytes_; }
    [[nodiscard]] std::size_t size() const { return bytes_.size(); }
    [[nodiscard]] bool empty() const { return bytes_.empty(); }

    void wipe() noexcept {
        if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
        bytes_.clear();
    }

private:
    // Never grows after construction, so no reallocation leaves an unwiped copy behind.
    std::vector<std::uint8_t> bytes_;
};

}  // namespace jpki
