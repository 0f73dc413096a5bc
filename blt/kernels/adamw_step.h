// AdamW over one tensor with blt's CUDA kernel (adamw_kernel.h), for train/adamw.cpp: float32
// CUDA tensors, contiguous, in a build with the kernels. Everything else takes LibTorch's fused
// kernel or the reference loop there.
#pragma once
#include <torch/torch.h>

namespace blt::kernels {

// Whether adamw_step takes these tensors.
bool adamw_kernel_applies(const torch::Tensor& value, const torch::Tensor& grad, const torch::Tensor& exp_avg,
                          const torch::Tensor& exp_avg_sq);

struct AdamWHyper {
  double lr, beta1, beta2, eps, weight_decay;  // weight_decay 0 for tensors without decay
  int64_t step;                                // counted from 1, this step included
};

// One step in place. `clip` multiplies the gradient (a scalar on the device, or undefined);
// where `skip` (a bool scalar on the device, or undefined) is true nothing changes. Neither is
// read on the host.
void adamw_step(torch::Tensor& value, const torch::Tensor& grad, torch::Tensor& exp_avg, torch::Tensor& exp_avg_sq,
                const AdamWHyper& h, const torch::Tensor& clip, const torch::Tensor& skip);

}  // namespace blt::kernels
