/*
 * Counters behind GET /metrics, rendered in Prometheus' text exposition format with the names of
 * docs/engine-interface.md.
 */
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "tpu_llm_engine.h"

namespace tpu::server {

class ServerMetrics {
  public:
    void count_request(int status);
    void count_generation(const GenerationResult &result);
    void set_npu_memory_used(int64_t bytes);

    /* The exposition text; the queue depth is read at scrape time. */
    std::string render(int queue_depth) const;

  private:
    mutable std::mutex mutex_;
    std::map<int, uint64_t> requests_by_code_;
    uint64_t generated_tokens_ = 0;
    uint64_t prompt_tokens_ = 0;
    double first_token_seconds_sum_ = 0;
    uint64_t first_token_count_ = 0;
    double decode_tokens_per_second_ = 0;
    int64_t npu_memory_used_bytes_ = -1;
};

}  // namespace tpu::server
