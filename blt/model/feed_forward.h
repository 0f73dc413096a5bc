// SwiGLU feed-forward: down(silu(gate(x)) * up(x)), no biases.
#pragma once
#include <torch/torch.h>

#include "blt/model/linear.h"

namespace blt::model {

class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(int64_t dim, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);

  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(FeedForward);

}  // namespace blt::model
