// Decoding one position at a time through a stack of transformer layers: the
// keys and values of the positions seen so far, trimmed to what a sliding window
// can still reach. Shared by the byte LM (TransformerLM::step) and the BLT's
// incremental inference (model/blt_inference.h), whose local encoder, global
// transformer and local decoder each keep one.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "blt/model/model_config.h"
#include "blt/model/rope.h"
#include "blt/model/self_attention.h"

namespace blt::model {

struct StackCache {
  std::vector<LayerKVCache> layers;  // one per layer, [B, Hkv, T, D] each
  torch::Tensor positions;           // int64 [T] absolute positions of the cached entries
  torch::Tensor document_ids;        // int64 [B, T]; undefined when no document ids are given
  int64_t length = 0;                // positions fed so far
};

// What the new position's attention needs in every layer of the stack.
struct StepContext {
  RopeTable rope;         // its angle, [1, head_dim]
  torch::Tensor allowed;  // bool [B, T+1]: the cached positions, then itself
};

// Registers position cache.length of a stack with `shape` (batch B, activations of
// `dtype` on `device`): it sees itself and the cached positions within
// shape.sliding_window and, when `document` ([B] int64, its document) is
// defined, of the same document. Run the layers' step() with the context, then
// finish_step().
StepContext begin_step(const TransformerShape& shape, StackCache& cache, int64_t batch, torch::ScalarType dtype,
                       const torch::Device& device, const torch::Tensor& document = {});
// Advances the cache and drops the entries no later position can see.
void finish_step(const TransformerShape& shape, StackCache& cache);

// begin_step, every layer of `layers` (TransformerLayer), finish_step: x [B, 1, dim]
// -> [B, 1, dim], equal to row cache.length of the stack's full forward over all
// positions fed so far.
torch::Tensor step_stack(torch::nn::ModuleList layers, const TransformerShape& shape, const torch::Tensor& x,
                         StackCache& cache, const torch::Tensor& document = {});

}  // namespace blt::model
