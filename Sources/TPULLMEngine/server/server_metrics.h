/*
 * Counters behind GET /metrics, rendered in Prometheus' text exposition format with the names of
 * docs/engine-interface.md.
 */
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "latency_histogram.h"
#include "tpu_llm_engine.h"

namespace tpu::server {

class ServerMetrics {
  public:
    void count_request(int status);
    /* `queue_seconds`: how long it waited for the device, counted in its time to first token. */
    void count_generation(const GenerationResult &result, double queue_seconds);
    void set_npu_memory_used(int64_t bytes);

    /* The exposition text; the queue depth is read at scrape time. */
    std::string render(int queue_depth) const;

  private:
    mutable std::mutex mutex_;
    std::map<int, uint64_t> requests_by_code_;
    uint64_t generated_tokens_ = 0;
    uint64_t prompt_tokens_ = 0;
    /* Buckets for a small board: a queue can hold a request for minutes, a token takes 10 ms to a second. */
    LatencyHistogram queue_wait_{"tpu_engine_queue_wait_seconds",
                                 "Time a generation waited in the queue for the device.",
                                 {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}};
    LatencyHistogram first_token_{"tpu_engine_time_to_first_token_seconds",
                                  "Time from a request joining the queue to its first token (queue wait included).",
                                  {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}};
    LatencyHistogram per_token_{"tpu_engine_time_per_output_token_seconds",
                                "Mean time per generated token after the first, one observation per generation.",
                                {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}};
    double decode_tokens_per_second_ = 0;
    int64_t npu_memory_used_bytes_ = -1;
};

}  // namespace tpu::server
