/*
 * A Prometheus histogram of seconds: cumulative `_bucket{le=…}` counts, `_sum` and `_count`, as `promtool check
 * metrics` and the Prometheus client parsers accept them. Not thread-safe: ServerMetrics holds the lock.
 */
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace tpu::server {

class LatencyHistogram {
  public:
    /* `bounds`: the buckets' upper bounds in seconds, ascending; +Inf is added. */
    LatencyHistogram(std::string name, std::string help, std::vector<double> bounds);

    void observe(double seconds);
    void render(std::ostringstream &out) const;
    uint64_t count() const { return count_; }

  private:
    std::string name_, help_;
    std::vector<double> bounds_;
    std::vector<uint64_t> counts_; /* per bucket, not cumulative; the last is +Inf */
    double sum_ = 0;
    uint64_t count_ = 0;
};

}  // namespace tpu::server
