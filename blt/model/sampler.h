// Choosing the next id from logits: greedy (temperature 0), or sampling from
// softmax(logits / temperature) restricted to the top_k most likely ids and then
// to the smallest set of most likely ids whose probability reaches top_p.
// Seeded and platform-independent: the draw uses its own 64-bit Mersenne
// Twister and arithmetic in double on the CPU, not a device's generator.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <random>

namespace blt::model {

struct SamplingConfig {
  double temperature = 0.0;  // 0 = greedy (argmax; the first of equal maxima)
  int64_t top_k = 0;         // 0 = all ids
  double top_p = 1.0;        // in (0, 1]; 1 = no nucleus cut
  uint64_t seed = 0;

  // Throws blt::Error naming the option (`--temperature` etc.) that is out of range.
  void validate() const;
};

class Sampler {
 public:
  explicit Sampler(SamplingConfig config);
  // logits [vocab] (any device and floating dtype) -> the chosen id.
  int64_t next(const torch::Tensor& logits);

 private:
  SamplingConfig config_;
  std::mt19937_64 rng_;
};

}  // namespace blt::model
