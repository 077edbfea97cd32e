/* Picks the next token from logits: argmax at temperature 0 (lowest index on ties), otherwise nucleus
 * (top-p) sampling from softmax(logits / temperature) with a seeded generator. */
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace tpu {

class Sampler {
  public:
    Sampler(float temperature, float top_p, uint64_t seed);
    int sample(const std::vector<float> &logits);
    bool greedy() const { return temperature_ <= 0.0f; }

  private:
    float temperature_;
    float top_p_;
    std::mt19937_64 generator_;
};

int argmax(const std::vector<float> &logits);

}  // namespace tpu
