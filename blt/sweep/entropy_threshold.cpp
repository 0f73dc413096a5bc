#include "blt/sweep/entropy_threshold.h"

#include "blt/data/loader.h"

namespace blt::sweep {

model::ThresholdSearch search_threshold(const std::shared_ptr<model::TransformerLM>& entropy_model,
                                        const std::string& shards, double mean_patch, int64_t max_patch_length,
                                        const ThresholdSample& sample, const torch::Device& device) {
  model::PatchingConfig patching;
  patching.mode = sample.mode;
  patching.max_patch_length = max_patch_length;
  patching.entropy_precision = sample.precision;
  const model::Patcher patcher(patching, entropy_model);

  data::LoaderOptions o;
  o.seq_len = sample.seq_len;
  o.batch_size = sample.sequences;
  o.seed = sample.seed;
  data::Loader loader(std::make_shared<const data::ShardSet>(shards, true), o);
  const auto inputs = loader.next()->tokens.narrow(1, 0, sample.seq_len).clamp_min(0).to(device);
  const auto entropies = patcher.entropies(inputs).to(torch::kCPU);
  std::vector<torch::Tensor> rows;
  for (int64_t b = 0; b < entropies.size(0); ++b) rows.push_back(entropies[b]);
  return model::threshold_for_mean_patch_size(rows, mean_patch, sample.mode, max_patch_length);
}

double pick_threshold(const std::shared_ptr<model::TransformerLM>& entropy_model, const std::string& shards,
                      double mean_patch, const model::PatchingConfig& patching, const torch::Device& device) {
  ThresholdSample sample;
  sample.precision = patching.entropy_precision;
  return search_threshold(entropy_model, shards, mean_patch, patching.max_patch_length, sample, device).threshold;
}

}  // namespace blt::sweep
