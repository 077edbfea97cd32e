#include "latency_histogram.h"

namespace tpu::server {

LatencyHistogram::LatencyHistogram(std::string name, std::string help, std::vector<double> bounds)
    : name_(std::move(name)), help_(std::move(help)), bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void LatencyHistogram::observe(double seconds) {
    if (seconds < 0) seconds = 0;
    size_t bucket = 0;
    while (bucket < bounds_.size() && seconds > bounds_[bucket]) ++bucket;
    ++counts_[bucket];
    sum_ += seconds;
    ++count_;
}

void LatencyHistogram::render(std::ostringstream &out) const {
    out << "# HELP " << name_ << " " << help_ << "\n# TYPE " << name_ << " histogram\n";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
        cumulative += counts_[i];
        out << name_ << "_bucket{le=\"" << bounds_[i] << "\"} " << cumulative << "\n";
    }
    out << name_ << "_bucket{le=\"+Inf\"} " << count_ << "\n"
        << name_ << "_sum " << sum_ << "\n"
        << name_ << "_count " << count_ << "\n";
}

}  // namespace tpu::server
