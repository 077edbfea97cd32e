#include "server_metrics.h"

#include <sstream>

namespace tpu::server {

void ServerMetrics::count_request(int status) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++requests_by_code_[status];
}

void ServerMetrics::count_generation(const GenerationResult &result, double queue_seconds) {
    std::lock_guard<std::mutex> lock(mutex_);
    generated_tokens_ += result.tokens.size();
    prompt_tokens_ += result.prompt_ids.size();
    queue_wait_.observe(queue_seconds);
    if (!result.tokens.empty()) first_token_.observe(queue_seconds + result.time_to_first_token_seconds);
    if (result.tokens.size() > 1 && result.decode_tokens_per_second > 0) {
        decode_tokens_per_second_ = result.decode_tokens_per_second;
        per_token_.observe(1.0 / result.decode_tokens_per_second);
    }
}

void ServerMetrics::set_npu_memory_used(int64_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    npu_memory_used_bytes_ = bytes;
}

std::string ServerMetrics::render(int queue_depth) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::ostringstream out;
    out.precision(9);
    out << "# HELP tpu_engine_requests_total HTTP requests answered, by status code.\n"
        << "# TYPE tpu_engine_requests_total counter\n";
    for (auto &[code, count] : requests_by_code_)
        out << "tpu_engine_requests_total{code=\"" << code << "\"} " << count << "\n";
    out << "# HELP tpu_engine_generated_tokens_total Tokens generated.\n"
        << "# TYPE tpu_engine_generated_tokens_total counter\n"
        << "tpu_engine_generated_tokens_total " << generated_tokens_ << "\n"
        << "# HELP tpu_engine_prompt_tokens_total Prompt tokens fed to the model.\n"
        << "# TYPE tpu_engine_prompt_tokens_total counter\n"
        << "tpu_engine_prompt_tokens_total " << prompt_tokens_ << "\n";
    queue_wait_.render(out);
    first_token_.render(out);
    per_token_.render(out);
    out << "# HELP tpu_engine_decode_tokens_per_second Decode speed of the last generation.\n"
        << "# TYPE tpu_engine_decode_tokens_per_second gauge\n"
        << "tpu_engine_decode_tokens_per_second " << decode_tokens_per_second_ << "\n"
        << "# HELP tpu_engine_queue_depth Requests waiting for the device.\n"
        << "# TYPE tpu_engine_queue_depth gauge\n"
        << "tpu_engine_queue_depth " << queue_depth << "\n"
        << "# HELP tpu_engine_npu_memory_used_bytes Device memory in use (-1: the runtime cannot say).\n"
        << "# TYPE tpu_engine_npu_memory_used_bytes gauge\n"
        << "tpu_engine_npu_memory_used_bytes " << npu_memory_used_bytes_ << "\n";
    return out.str();
}

}  // namespace tpu::server
