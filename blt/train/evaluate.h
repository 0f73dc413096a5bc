// Bits per byte on held-out shards: one pass over every byte, in corpus order,
// split over the ranks; the last partial sequence is padded, not dropped.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>

#include <torch/torch.h>

#include "blt/data/shard_reader.h"
#include "blt/data/token_shards.h"
#include "blt/model/causal_lm.h"
#include "blt/model/patcher.h"
#include "blt/parallel/comm.h"
#include "blt/train/byte_loss.h"

namespace blt::train {

struct EvalOptions {
  int64_t seq_len = 4096;
  int64_t batch_size = 8;
  int64_t max_batches = 0;  // per rank; 0 = the whole set
  bool bf16 = false;
};

struct EvalResult {
  LossSums sums;
  double patches = 0;  // BLT: real patches over the evaluated sequences
  double seconds = 0;
  double bytes_per_token = 0;  // token shards: of the whole evaluated text
  double mean_patch_length() const { return patches > 0 ? sums.bytes / patches : 0.0; }
};

// `patcher` is null for models that take no patch lengths.
EvalResult evaluate(model::CausalLM& model, const model::Patcher* patcher, std::shared_ptr<const data::ShardSet> corpus,
                    const EvalOptions& options, parallel::Comm& comm, const torch::Device& device);

// Model input and targets from a loader batch [B, L + 1] on `device`: padding
// (-1) in the inputs becomes BOE (0), which the loss then ignores as a target.
struct StepBatch {
  model::ModelInput input;
  torch::Tensor targets;
  torch::Tensor patches;  // BLT: real (non-empty) patches, a float64 scalar on `device`; else undefined
  double real_patches() const;  // the same number on the host (waits for the device)
};
StepBatch prepare_batch(const torch::Tensor& tokens, const model::Patcher* patcher, const torch::Device& device);

// prepare_batch in two halves: queue_batch queues the batch's copy to the device and its
// patching there; finish() waits only for the patch count (model::PendingPatchLengths).
struct PendingBatch {
  StepBatch batch;  // without its patch lengths and patches until finish()
  std::optional<model::PendingPatchLengths> patching;
  StepBatch finish() &&;
};
PendingBatch queue_batch(const torch::Tensor& tokens, const model::Patcher* patcher, const torch::Device& device);

// Loss sums and real patches of batches, summed on the device (training steps, evaluation) so
// that the host reads them only when it needs the numbers: float64 [5], LossSums' four numbers
// in token_loss's order, then patches.
struct BatchTotals {
  LossSums sums;
  double patches = 0;

  static torch::Tensor zeros(const torch::Device& device);
  static void add(torch::Tensor& totals, const TokenLoss& loss, const StepBatch& batch);
  // From such a tensor, on any device (waits for it).
  static BatchTotals read(const torch::Tensor& totals);
};

// Token shards go with a token_lm and only with one, whose vocabulary must hold
// their ids; fails naming `spec` otherwise. `table` is null for byte shards.
void check_shards_fit_model(const model::ModelConfig& model, const data::TokenTable* table, const std::string& spec);

// Bytes per id of token shards as the loss wants them (token_loss); undefined for byte shards.
torch::Tensor bytes_per_id_tensor(const data::TokenTable* table, const torch::Device& device);

}  // namespace blt::train
