// Rotary position embedding. Pairs are adjacent channels (0,1), (2,3), ... as in
// the reference BLT and the Hugging Face port (not the half-split of HF Llama),
// so imported weights see the same rotation.
#pragma once
#include <torch/torch.h>

namespace blt::model {

struct RopeTable {
  torch::Tensor cos, sin;  // [L, head_dim], each frequency repeated for its pair
};

// Angles for `positions` (int64 [L]). Computed in float32 (float64 when `dtype`
// is float64), then cast to `dtype`.
RopeTable rope_table(const torch::Tensor& positions, int64_t head_dim, double theta, torch::ScalarType dtype);

// Rotates x [B, H, L, head_dim] (or [..., L, head_dim]) by the table's angles.
torch::Tensor apply_rope(const torch::Tensor& x, const RopeTable& table);

// Rotates x [B, L, H, head_dim] (a projection viewed as heads) and returns it as [B, H, L,
// head_dim], in x's type, for attention: the fused kernel (kernels/fused_ops.h) where it applies,
// else apply_rope. (apply_rope promotes a bf16 x to a float table's type; attention under
// autocast casts it back, so the two agree on what attention sees.)
torch::Tensor rope_heads(const torch::Tensor& x, const RopeTable& table);

}  // namespace blt::model
