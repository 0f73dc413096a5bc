// Shared pieces of the model tests: tiny configs, random patch lengths, comparisons.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "blt/config/run_config.h"
#include "blt/model/causal_lm.h"
#include "helpers.h"

namespace blt::test {

inline model::ModelConfig load_model_preset(const std::string& name, std::vector<std::string> overrides = {}) {
  return load_run_config(source_path("configs/model/" + name + ".yaml"), overrides).model;
}

// The CPU, and CUDA where there is one: the devices a test that covers both paths runs on.
inline std::vector<torch::Device> cpu_and_cuda() {
  std::vector<torch::Device> out = {torch::kCPU};
  if (torch::cuda::is_available()) out.push_back(torch::kCUDA);
  return out;
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// Random positive lengths [B, P] (zero-padded) summing to L in every row, first patch one byte;
// rows may end with the zero-length end marker.
inline torch::Tensor random_patch_lengths(int64_t batch, int64_t length, int64_t max_len, torch::Generator gen) {
  std::vector<std::vector<int64_t>> rows;
  std::size_t widest = 0;
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int64_t> row{1};
    int64_t left = length - 1;
    while (left > 0) {
      const int64_t n = std::min<int64_t>(left, 1 + torch::randint(max_len, {1}, gen).item<int64_t>());
      row.push_back(n);
      left -= n;
    }
    if (torch::randint(2, {1}, gen).item<int64_t>() == 1) row.push_back(0);
    widest = std::max(widest, row.size());
    rows.push_back(row);
  }
  auto out = torch::zeros({batch, static_cast<int64_t>(widest)}, torch::kLong);
  for (int64_t b = 0; b < batch; ++b)
    for (std::size_t p = 0; p < rows[b].size(); ++p) out[b][static_cast<int64_t>(p)] = rows[b][p];
  return out;
}

// Random byte ids (4..259) with an occasional EOS (2) inside.
inline torch::Tensor random_tokens(int64_t batch, int64_t length, torch::Generator gen, double eos_rate = 0.03) {
  auto t = torch::randint(4, 260, {batch, length}, gen, torch::kLong);
  auto eos = torch::rand({batch, length}, gen).lt(eos_rate);
  return torch::where(eos, torch::full_like(t, 2), t);
}

}  // namespace blt::test
