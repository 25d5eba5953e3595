// The token layer's one error type: the CK_RV the C API must return, and why (for the log).
#pragma once

#include "jpki/pkcs11.hpp"

#include <exception>
#include <string>

namespace jpki::token {

class Error : public std::exception {
public:
    explicit Error(CK_RV rv, std::string detail = {}) : rv_(rv), detail_(std::move(detail)) {}
    [[nodiscard]] CK_RV rv() const noexcept { return rv_; }
    [[nodiscard]] const char* what() const noexcept override {
        return detail_.empty() ? "PKCS#11 error" : detail_.c_str();
    }

private:
    CK_RV rv_;
    std::string detail_;
};

// "CKR_PIN_INCORRECT" for logs; "CKR_0x..." for codes without a name here.
std::string rv_name(CK_RV rv);

}  // namespace jpki::token
