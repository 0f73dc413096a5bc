// Patch boundaries (spec section 2). Every mode decides, for each position t in
// 1..L, whether a patch starts at t, from bytes < t only (t = L means "right
// after the sequence"; it becomes a trailing zero-length patch, see patch_ids.h):
//   - positions 0 and 1 always start a patch (the first patch is one byte);
//   - static:  t = 1 + m * static_size;
//   - space:   byte t-1 ends a word: it is not an ASCII letter/digit or UTF-8
//              continuation byte (or is a special id), and byte t-2 did not
//              already end one (runs of separators stay together, as in the reference);
//   - entropy: H_{t-1} > threshold, where H_s is the entropy of the entropy
//              model's next-byte distribution at position s (predicting byte s+1);
//   - entropy_monotonic: H_{t-1} - H_{t-2} > monotonic_threshold;
//   - max_patch_length M > 0: also where the current patch already has M bytes.
// Batch mode (Patcher::patch) and incremental mode (IncrementalPatcher, one byte
// at a time with the entropy model's KV cache) give the same boundaries.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "blt/core/host_scalar.h"
#include "blt/core/torch_compat.h"
#include "blt/model/model_config.h"
#include "blt/model/transformer_lm.h"

namespace blt::model {

// Entropy (nats) of softmax(logits) over the last dim, computed in float32 or float64.
torch::Tensor next_byte_entropy(const torch::Tensor& logits);

// The CUDA autocast the entropy model runs under: bf16 for entropy_precision bf16 on
// CUDA, off otherwise (also inside a caller's autocast region: the config decides).
compat::AutocastState entropy_precision(const PatchingConfig& config, const torch::Device& device);

// starts bool [B, L+1] (column t: a patch starts at t; column 0 must be set) ->
// patch_lengths int64 [B, P] summing to L, zero-padded at the end. A start at L
// gives the trailing zero-length marker patch. Patches longer than
// `max_patch_length` (> 0) are split from their start.
torch::Tensor patch_lengths_from_starts(const torch::Tensor& starts, int64_t max_patch_length);

// patch_lengths_from_starts in two halves. The host must know P, the longest row's patch
// count, to shape [B, P] (and the global model's input); reading it makes the host wait for
// the device. The constructor queues everything on the device, P's copy to the host included;
// lengths() waits for that copy alone. A batch queued ahead of the work before it (the
// trainer's next micro-batch) so costs the device no idle time.
class PendingPatchLengths {
 public:
  PendingPatchLengths(const torch::Tensor& starts, int64_t max_patch_length);
  torch::Tensor lengths() const;  // [B, P] on the starts' device

 private:
  torch::Tensor patch_of_;  // [B, L]: the patch of every position
  HostScalar patches_;      // P
};

// Start masks [B, L+1] of the rules above (without max_patch_length).
torch::Tensor static_patch_starts(int64_t batch, int64_t length, int64_t size, const torch::Device& device);
torch::Tensor space_patch_starts(const torch::Tensor& tokens);
torch::Tensor entropy_patch_starts(const torch::Tensor& entropies, double threshold);
torch::Tensor monotonic_patch_starts(const torch::Tensor& entropies, double threshold);

class Patcher {
 public:
  // `entropy_model` (a byte_lm) is required for the entropy modes; it is run in no-grad mode.
  Patcher(PatchingConfig config, std::shared_ptr<TransformerLM> entropy_model);
  // tokens [B, L] -> patch_lengths [B, P] on the tokens' device. `padding` (bool
  // [B, L], optional) marks positions past the end of the text (the last, partly
  // filled sequences of an evaluation): no patch starts at t when byte t-1 is
  // padding, so a padded tail costs the global model at most one patch (more only
  // through max_patch_length) instead of one per byte under entropy patching. A
  // start decided by a real byte is kept, so real bytes get the patches and the
  // predictions they would get without the padding.
  // `documents` (optional) are the tokens' documents as ModelInput::documents: the
  // entropy model's attention runs flash over them on a GPU.
  torch::Tensor patch(const torch::Tensor& tokens, const torch::Tensor& padding = {},
                      const SequenceSpans& documents = {}) const;
  // patch() with the lengths still pending: everything queued on the tokens' device.
  PendingPatchLengths queue_patch(const torch::Tensor& tokens, const torch::Tensor& padding = {},
                                  const SequenceSpans& documents = {}) const;
  // Entropies [B, L] of the entropy model's next-byte distributions (on the model's device),
  // computed in config().entropy_precision.
  torch::Tensor entropies(const torch::Tensor& tokens, const SequenceSpans& documents = {}) const;
  const PatchingConfig& config() const { return config_; }
  // The byte LM of the entropy modes (null for static and space), as it was given.
  const std::shared_ptr<TransformerLM>& entropy_model() const { return entropy_model_; }
  // Moves the entropy model (if any) to `device`.
  void to(const torch::Device& device);

 private:
  PatchingConfig config_;
  std::shared_ptr<TransformerLM> entropy_model_;
  std::shared_ptr<TransformerLM> running_;  // what entropies() runs: running_entropy_model()
};

// The model a patcher runs for `entropy_model` where it lives. Under entropy_precision bf16 on
// CUDA: a copy of it held wholly in bf16 (weights, embeddings, the residual stream), as a bf16
// checkpoint of HF's patcher runs; the float32 model under autocast kept its residual stream and
// norms' inputs in float32, twice the bytes for the elementwise work that much of its time is.
// The entropy model is frozen: the copy is made once, not kept in step with later writes.
// Otherwise the model itself. Null for null.
std::shared_ptr<TransformerLM> running_entropy_model(const PatchingConfig& config,
                                                    const std::shared_ptr<TransformerLM>& entropy_model);

// One byte at a time (generation): push() feeds the next id and returns whether
// it starts a new patch; the entropy model runs once per byte on its KV cache.
class IncrementalPatcher {
 public:
  IncrementalPatcher(PatchingConfig config, std::shared_ptr<TransformerLM> entropy_model);
  bool push(int64_t id);
  // Whether the byte after the ones pushed so far will start a new patch.
  bool next_starts_patch() const { return next_starts_; }
  // Lengths of the patches so far, [1, P], with the trailing zero-length patch
  // when the next byte starts one: equal to Patcher::patch on the same bytes.
  torch::Tensor patch_lengths() const;

 private:
  bool rule_starts_next(int64_t id);

  PatchingConfig config_;
  std::shared_ptr<TransformerLM> entropy_model_;
  LMCache cache_;
  std::vector<int64_t> lengths_;
  int64_t position_ = 0;
  bool previous_spacelike_ = false;
  double previous_entropy_ = 0.0;
  bool next_starts_ = true;
};

struct ThresholdSearch {
  double threshold;
  double mean_patch;  // mean patch length the threshold gives on the sample
};

// Threshold (for `mode` entropy or entropy_monotonic) whose patches on the sample
// (entropies of each sequence, [L] each) have a mean length closest to `target`
// bytes; max_patch_length as in the config.
ThresholdSearch threshold_for_mean_patch_size(const std::vector<torch::Tensor>& entropies, double target,
                                              const std::string& mode, int64_t max_patch_length);

// Mean patch length (bytes per real patch) of patch_lengths [B, P].
double mean_patch_length(const torch::Tensor& patch_lengths);

}  // namespace blt::model
