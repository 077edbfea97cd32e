/*
 * CORS, so that a browser front-end served from another origin can call the API. The engine listens on the
 * board's loopback and is reached through an SSH forward, so on the user's machine it looks like any local
 * service at 127.0.0.1: allowing every origin without a key would let any web page the user visits use the model.
 *   - `--cors-origin` given: exactly those origins (or `*`), key or not;
 *   - no `--cors-origin` and an API key required: every origin (`*`), since every request but /health and the
 *     page needs the key, which another site's page does not have (no cookies are involved);
 *   - no `--cors-origin` and no key: no cross-origin access (the engine's own page at / is same-origin).
 */
#pragma once

#include <string>
#include <vector>

namespace httplib {
struct Request;
struct Response;
}

namespace tpu::server {

class CrossOrigin {
  public:
    CrossOrigin(std::vector<std::string> origins, bool key_required);

    /* Access-Control-Allow-Origin and friends on any response to an allowed Origin. */
    void add_headers(const httplib::Request &request, httplib::Response &response) const;
    /* OPTIONS: 204 with the allowed methods and headers, or 403 naming the option when the origin is not allowed. */
    void answer_preflight(const httplib::Request &request, httplib::Response &response) const;

  private:
    bool allows(const std::string &origin) const;
    std::vector<std::string> origins_;
};

}  // namespace tpu::server
