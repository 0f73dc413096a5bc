// Likelihood scoring of candidate continuations, the way multiple-choice tasks are
// scored without generation: each candidate's nats given the prompt, from one
// CausalLM forward. Nothing here is byte-specific but the encoder, so a token
// model scores the same items by bringing its tokenizer.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <torch/torch.h>

#include "blt/model/causal_lm.h"
#include "blt/model/patcher.h"

namespace blt::eval {

// The ids a model reads for a text (without BOS).
using TextEncoder = std::function<std::vector<int64_t>(std::string_view)>;
// Byte models (blt, byte_lm): byte b is id b + 4.
std::vector<int64_t> byte_ids(std::string_view text);

class ContinuationScorer {
 public:
  // `patcher`: as for training (null for models without patches).
  ContinuationScorer(model::CausalLM& model, const model::Patcher* patcher, TextEncoder encode, torch::Device device);
  // For each continuation: -sum log p(id | BOS, prompt, earlier ids of the
  // continuation) over its ids, in nats; prompt and continuation are encoded
  // separately and concatenated. One batch, padded on the right (causal models:
  // padding after a row changes nothing before it).
  std::vector<double> nats(const std::string& prompt, const std::vector<std::string>& continuations) const;
  // Index of the most likely continuation (fewest nats; the first on a tie).
  std::size_t choose(const std::string& prompt, const std::vector<std::string>& continuations) const;

 private:
  model::CausalLM& model_;
  const model::Patcher* patcher_;
  TextEncoder encode_;
  torch::Device device_;
};

}  // namespace blt::eval
