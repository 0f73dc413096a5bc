// Incremental BLT inference: one byte in, next-byte logits out, with each part's
// state cached so that a byte costs O(1) local work and a completed patch one
// global step. What depends on what (blt_model.cpp):
//   - the encoder's byte states are causal and windowed: a KV cache per layer;
//   - a patch's vector pools the encoder's last-layer states of its bytes, so it
//     is final when the patch is: the patcher decides, from the bytes so far,
//     whether the next byte starts a patch (IncrementalPatcher, the same rule as
//     the batch patcher), and then the patch is pooled and the global transformer
//     takes one step (its own KV cache, one position per patch);
//   - the decoder's byte i reads the last patch known to end at or before i
//     (patch_ids.h), i.e. the newest completed patch; its k vectors' keys and
//     values are projected once per patch for every decoder cross-attention;
//   - the decoder's byte layers: a KV cache per layer, windowed.
// Documents: the stream is one document (generation ends at EOS, prompts are
// bytes), so the document masks of the full forward never cut anything here.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <utility>
#include <vector>

#include "blt/model/blt_model.h"
#include "blt/model/incremental_lm.h"
#include "blt/model/kv_cache.h"
#include "blt/model/patcher.h"

namespace blt::model {

struct BltCache {
  std::vector<int64_t> recent_ids;          // the last (largest n-gram size) ids, for the hash embeddings
  StackCache encoder;                       // local encoder layers, window local_encoder.sliding_window
  std::vector<torch::Tensor> patch_bytes;   // encoder output [1, 1, d_l] of each byte of the open patch
  StackCache global;                        // one entry per completed patch
  // Keys and values [1, 1, k, heads, head_dim] of the newest completed patch, for
  // every decoder layer that reads patches (undefined for the others).
  std::vector<std::pair<torch::Tensor, torch::Tensor>> patch_kv;
  StackCache decoder;                       // local decoder layers, window local_decoder.sliding_window
  int64_t patches = 0;                      // completed patches
};

class BltIncremental : public IncrementalLM {
 public:
  // `entropy_model` is required for the entropy modes, ignored otherwise.
  BltIncremental(std::shared_ptr<BltModel> model, std::shared_ptr<TransformerLM> entropy_model);
  // Patched by `patching` instead of the model's own config (bench_generate: every
  // patcher on one set of weights, without a copy of the model per patcher).
  BltIncremental(std::shared_ptr<BltModel> model, std::shared_ptr<TransformerLM> entropy_model, PatchingConfig patching);
  torch::Tensor push(int64_t id) override;
  bool full() const override;
  int64_t patches() const override { return cache_.patches; }
  // Patch lengths so far, as Patcher::patch gives them for the ids fed.
  torch::Tensor patch_lengths() const { return patcher_.patch_lengths(); }

 private:
  torch::Tensor embed(int64_t id);
  void complete_patch();

  std::shared_ptr<BltModel> model_;
  IncrementalPatcher patcher_;
  BltCache cache_;
  int64_t max_ngram_ = 1;
};

}  // namespace blt::model
