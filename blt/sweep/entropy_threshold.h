// The entropy threshold that cuts a sample of shards into patches of a wanted
// mean size (what `blt patching threshold` prints and the sweep uses).
#pragma once
#include <memory>
#include <string>

#include <torch/torch.h>

#include "blt/model/patcher.h"
#include "blt/model/transformer_lm.h"

namespace blt::sweep {

struct ThresholdSample {
  int64_t sequences = 32;
  int64_t seq_len = 1024;
  uint64_t seed = 0;
  std::string mode = "entropy";  // or entropy_monotonic
  std::string precision = "fp32";  // the entropy model's, as model.patching.entropy_precision
};

// Entropies of the sample's sequences (the first batch of a seeded loader over
// `shards`) under `entropy_model`, then the threshold search of model/patcher.
model::ThresholdSearch search_threshold(const std::shared_ptr<model::TransformerLM>& entropy_model,
                                        const std::string& shards, double mean_patch, int64_t max_patch_length,
                                        const ThresholdSample& sample, const torch::Device& device);

// The threshold alone, on the default sample, for a run patching as `patching` says
// (its mode is entropy; its max_patch_length and entropy_precision count).
double pick_threshold(const std::shared_ptr<model::TransformerLM>& entropy_model, const std::string& shards,
                      double mean_patch, const model::PatchingConfig& patching, const torch::Device& device);

}  // namespace blt::sweep
