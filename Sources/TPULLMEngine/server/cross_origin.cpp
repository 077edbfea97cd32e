#include "cross_origin.h"

#include <algorithm>

#include <httplib.h>

#include "chat_endpoint.h"

namespace tpu::server {

CrossOrigin::CrossOrigin(std::vector<std::string> origins, bool key_required) : origins_(std::move(origins)) {
    if (origins_.empty() && key_required) origins_ = {"*"};
}

bool CrossOrigin::allows(const std::string &origin) const {
    if (origin.empty()) return false;
    return std::any_of(origins_.begin(), origins_.end(), [&](const std::string &allowed) {
        return allowed == "*" || allowed == origin;
    });
}

void CrossOrigin::add_headers(const httplib::Request &request, httplib::Response &response) const {
    std::string origin = request.get_header_value("Origin");
    if (!allows(origin)) return;
    bool any = std::find(origins_.begin(), origins_.end(), "*") != origins_.end();
    response.set_header("Access-Control-Allow-Origin", any ? "*" : origin);
    if (!any) response.set_header("Vary", "Origin");
    /* Readable by the page: when to retry after a 429 or 503. */
    response.set_header("Access-Control-Expose-Headers", "Retry-After");
}

void CrossOrigin::answer_preflight(const httplib::Request &request, httplib::Response &response) const {
    std::string origin = request.get_header_value("Origin");
    response.set_header("Allow", "GET, POST, OPTIONS");
    if (!origin.empty() && !allows(origin)) {
        send_error(response, 403,
                   "cross-origin requests from " + origin + " are not allowed: start the engine with --cors-origin " +
                       origin + " (or with an API key, which allows every origin)",
                   "invalid_request_error", "cors_origin_not_allowed");
        return;
    }
    response.status = 204;
    if (origin.empty()) return;
    response.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    std::string asked = request.get_header_value("Access-Control-Request-Headers");
    response.set_header("Access-Control-Allow-Headers", asked.empty() ? "Authorization, Content-Type" : asked);
    response.set_header("Access-Control-Max-Age", "600");
}

}  // namespace tpu::server
