#include "engine_health.h"

#include <chrono>

#include <nlohmann/json.hpp>

namespace tpu::server {

const char *health_status_name(HealthStatus status) {
    switch (status) {
    case HealthStatus::loading: return "loading";
    case HealthStatus::ready: return "ready";
    case HealthStatus::failed: return "failed";
    }
    return "unknown";
}

EngineHealth::EngineHealth(std::string model_name) : started_(std::chrono::steady_clock::now()) {
    health_.model_name = std::move(model_name);
}

double EngineHealth::seconds_since_start() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

void EngineHealth::mark_ready(const ModelDescription &model) {
    std::lock_guard<std::mutex> lock(mutex_);
    health_.status = HealthStatus::ready;
    health_.model = model;
    if (!model.name.empty()) health_.model_name = model.name;
    health_.load_seconds = seconds_since_start();
}

void EngineHealth::mark_failed(const std::string &reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    health_.status = HealthStatus::failed;
    health_.reason = reason;
    health_.load_seconds = seconds_since_start();
}

HealthSnapshot EngineHealth::snapshot() const {
    std::lock_guard<std::mutex> lock(mutex_);
    HealthSnapshot copy = health_;
    if (copy.status == HealthStatus::loading) copy.load_seconds = seconds_since_start();
    return copy;
}

std::string EngineHealth::body(const HealthSnapshot &health) {
    nlohmann::json body = {{"status", health_status_name(health.status)}, {"model", health.model_name}};
    if (health.status == HealthStatus::failed) body["reason"] = health.reason;
    if (health.status == HealthStatus::ready) {
        body["family"] = health.model.family;
        body["layout"] = health.model.layout;
        body["layers"] = health.model.layers;
        body["seq_len"] = health.model.seq_len;
    }
    body["load_seconds"] = health.load_seconds;
    return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tpu::server
