/*
 * The server's health: loading → ready, or loading → failed with the reason. `/health` reads it while the model
 * loads on the device thread.
 */
#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "tpu_llm_engine.h"

namespace tpu::server {

enum class HealthStatus { loading, ready, failed };

struct HealthSnapshot {
    HealthStatus status = HealthStatus::loading;
    std::string reason;        /* why loading failed */
    std::string model_name;    /* known before loading: --model-name or the bmodel's file stem */
    ModelDescription model;    /* filled once ready */
    double load_seconds = 0;   /* time spent loading, so far while loading */
};

class EngineHealth {
  public:
    explicit EngineHealth(std::string model_name);

    void mark_ready(const ModelDescription &model);
    void mark_failed(const std::string &reason);
    HealthSnapshot snapshot() const;

    /* `/health`'s body: {"status","reason","model","family","layers","seq_len","load_seconds"}. */
    static std::string body(const HealthSnapshot &health);

  private:
    double seconds_since_start() const;

    mutable std::mutex mutex_;
    HealthSnapshot health_;
    const std::chrono::steady_clock::time_point started_;
};

const char *health_status_name(HealthStatus status);

}  // namespace tpu::server
