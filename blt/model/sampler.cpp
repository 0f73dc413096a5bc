#include "blt/model/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "blt/core/error.h"

namespace blt::model {

void SamplingConfig::validate() const {
  if (!(temperature >= 0.0) || !std::isfinite(temperature))
    fail("--temperature must be a finite number >= 0 (0 = greedy), got {}", temperature);
  if (top_k < 0) fail("--top-k must be >= 0 (0 = no limit), got {}", top_k);
  if (!(top_p > 0.0 && top_p <= 1.0)) fail("--top-p must be in (0, 1], got {}", top_p);
}

Sampler::Sampler(SamplingConfig config) : config_(config), rng_(config.seed) { config_.validate(); }

int64_t Sampler::next(const torch::Tensor& logits_in) {
  auto logits = logits_in.detach().to(torch::kCPU, torch::kDouble).contiguous().view({-1});
  if (config_.temperature == 0.0) return logits.argmax().item<int64_t>();
  const auto* l = logits.data_ptr<double>();
  const int64_t n = logits.numel();
  std::vector<int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  // Most likely first; equal logits keep id order, so the cut is deterministic.
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return l[a] > l[b]; });
  std::size_t keep = order.size();
  if (config_.top_k > 0) keep = std::min<std::size_t>(keep, static_cast<std::size_t>(config_.top_k));
  std::vector<double> p(keep);
  const double top = l[order[0]];
  double total = 0.0;
  for (std::size_t i = 0; i < keep; ++i) total += p[i] = std::exp((l[order[i]] - top) / config_.temperature);
  if (config_.top_p < 1.0) {
    // Smallest prefix whose probability reaches top_p (at least one id).
    double mass = 0.0;
    std::size_t cut = 0;
    while (cut < keep && mass < config_.top_p * total) mass += p[cut++];
    keep = std::max<std::size_t>(cut, 1);
    total = std::accumulate(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(keep), 0.0);
  }
  // u in [0, 1) from the top 53 bits: the same on every platform, unlike
  // std::uniform_real_distribution.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
  double acc = 0.0;
  for (std::size_t i = 0; i < keep; ++i) {
    acc += p[i];
    if (u < acc) return order[i];
  }
  return order[keep - 1];
}

}  // namespace blt::model
