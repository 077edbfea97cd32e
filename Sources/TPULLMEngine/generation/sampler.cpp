#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tpu {

int argmax(const std::vector<float> &logits) {
    int best = 0;
    for (int i = 1; i < int(logits.size()); ++i)
        if (logits[i] > logits[best]) best = i;
    return best;
}

Sampler::Sampler(float temperature, float top_p, uint64_t seed)
    : temperature_(temperature), top_p_(top_p <= 0.0f || top_p > 1.0f ? 1.0f : top_p), generator_(seed) {}

int Sampler::sample(const std::vector<float> &logits) {
    if (greedy() || logits.size() < 2) return argmax(logits);
    const double maximum = *std::max_element(logits.begin(), logits.end());
    std::vector<double> probabilities(logits.size());
    double total = 0;
    for (size_t i = 0; i < logits.size(); ++i) total += probabilities[i] = std::exp((logits[i] - maximum) / temperature_);
    std::vector<int> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) {
        return probabilities[a] != probabilities[b] ? probabilities[a] > probabilities[b] : a < b;
    });
    /* The smallest set of most likely tokens whose probability reaches top_p. */
    size_t kept = 0;
    double mass = 0;
    while (kept < order.size()) {
        mass += probabilities[order[kept++]] / total;
        if (mass >= top_p_) break;
    }
    double nucleus = 0;
    for (size_t i = 0; i < kept; ++i) nucleus += probabilities[order[i]];
    double point = std::uniform_real_distribution<double>(0.0, nucleus)(generator_);
    for (size_t i = 0; i < kept; ++i) {
        point -= probabilities[order[i]];
        if (point < 0) return order[i];
    }
    return order[kept - 1];
}

}  // namespace tpu
