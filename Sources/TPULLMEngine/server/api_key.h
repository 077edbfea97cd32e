/*
 * The optional API key: requests carry `Authorization: Bearer KEY`; the comparison takes the same time
 * wherever the first difference is, so the key cannot be guessed byte by byte from response times.
 */
#pragma once

#include <string>

namespace tpu::server {

class APIKey {
  public:
    explicit APIKey(std::string key) : key_(std::move(key)) {}

    bool required() const { return !key_.empty(); }
    /* True when no key is required or the header is `Bearer <the key>`. */
    bool accepts(const std::string &authorization_header) const;

  private:
    std::string key_;
};

/* Compares in time that depends only on the lengths. */
bool constant_time_equal(const std::string &a, const std::string &b);

}  // namespace tpu::server
