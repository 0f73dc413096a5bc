// Root-mean-square layer norm with a learned scale (no bias, no mean removal).
#pragma once
#include <torch/torch.h>

namespace blt::model {

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  // Normalises in float32 (float64 for float64 inputs), casts back, then scales:
  // the order the released weights were trained with. The fused kernel (kernels/fused_ops.h)
  // scales before the one cast, and under CUDA autocast stores the autocast type.
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

}  // namespace blt::model
