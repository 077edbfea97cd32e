#include "api_key.h"

#include <cctype>

namespace tpu::server {

bool constant_time_equal(const std::string &a, const std::string &b) {
    /* Walk the longer string in full; a length difference counts as a difference. */
    size_t length = a.size() > b.size() ? a.size() : b.size();
    unsigned char difference = a.size() == b.size() ? 0 : 1;
    for (size_t i = 0; i < length; ++i) {
        unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        difference |= static_cast<unsigned char>(x ^ y);
    }
    return difference == 0;
}

bool APIKey::accepts(const std::string &authorization_header) const {
    if (!required()) return true;
    static const std::string scheme = "Bearer ";
    if (authorization_header.size() < scheme.size()) return false;
    /* The scheme name is case-insensitive (RFC 7235). */
    for (size_t i = 0; i < scheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(authorization_header[i])) !=
            std::tolower(static_cast<unsigned char>(scheme[i])))
            return false;
    return constant_time_equal(authorization_header.substr(scheme.size()), key_);
}

}  // namespace tpu::server
