// CPU twins of the fused CUDA kernels (fused_kernels.h): the same formulas (fused_math.h) on
// float copies of the inputs, results stored in the outputs' types. fused_ops.cpp calls them for
// CPU tensors, so CI tests the fused operations' autograd wiring and arithmetic without a GPU.
#pragma once
#include <torch/torch.h>

namespace blt::kernels::cpu {

// x [rows, dim]; fills y [rows, dim] (any floating type) and rstd [rows] (float).
void rms_norm_forward(const torch::Tensor& x, const torch::Tensor& weight, double eps, torch::Tensor& y,
                      torch::Tensor& rstd);
// Fills dx [rows, dim] (x's type); returns dw [dim] in float.
torch::Tensor rms_norm_backward(const torch::Tensor& dy, const torch::Tensor& x, const torch::Tensor& weight,
                                const torch::Tensor& rstd, torch::Tensor& dx);

void silu_mul_forward(const torch::Tensor& gate, const torch::Tensor& up, torch::Tensor& y);
void silu_mul_backward(const torch::Tensor& dy, const torch::Tensor& gate, const torch::Tensor& up, torch::Tensor& dgate,
                       torch::Tensor& dup);

// x, y [B, L, H, head_dim] contiguous; cos, sin [L, head_dim]. `inverse`: the backward.
void rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, bool inverse, torch::Tensor& y);

// q, out [B, L, H, D]; keys, values [B, P, k, H, D]; patch_ids int64 [B, L].
void patch_attention_forward(const torch::Tensor& q, const torch::Tensor& keys, const torch::Tensor& values,
                             const torch::Tensor& patch_ids, double scale, torch::Tensor& out);
// Fills dq (q's type) and dkeys, dvalues (float, zeroed by the caller).
void patch_attention_backward(const torch::Tensor& dout, const torch::Tensor& q, const torch::Tensor& keys,
                              const torch::Tensor& values, const torch::Tensor& patch_ids, double scale,
                              torch::Tensor& dq, torch::Tensor& dkeys, torch::Tensor& dvalues);

}  // namespace blt::kernels::cpu
