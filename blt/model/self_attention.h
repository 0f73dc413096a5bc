// Multi-head self-attention with RoPE and optional grouped-query heads.
#pragma once
#include <torch/torch.h>

#include "blt/model/attention_masks.h"
#include "blt/model/linear.h"
#include "blt/model/rope.h"

namespace blt::model {

// Keys and values of the positions seen so far, for one-token-at-a-time decoding.
struct LayerKVCache {
  torch::Tensor keys, values;  // [B, Hkv, T, D] (after RoPE), undefined before the first step
};

class SelfAttentionImpl : public torch::nn::Module {
 public:
  SelfAttentionImpl(int64_t dim, int64_t heads, int64_t kv_heads);
  // x [B, L, dim]; `rope` holds the angles of positions 0..L-1.
  torch::Tensor forward(const torch::Tensor& x, const RopeTable& rope, const AttentionPattern& pattern);
  // One new position per sequence: x [B, 1, dim]; `rope` holds its angle ([1, D]).
  // `allowed` [B, T+1] (true = may attend) covers the cached positions then the new one.
  torch::Tensor step(const torch::Tensor& x, const RopeTable& rope, LayerKVCache& cache, const torch::Tensor& allowed);

  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  int64_t heads, kv_heads, head_dim;
};
TORCH_MODULE(SelfAttention);

}  // namespace blt::model
