// BLT latent (global) transformer: causal Llama layers over patch vectors, with
// an input projection when k * d_l differs from d_g. No final norm (as released).
#pragma once
#include <torch/torch.h>

#include "blt/model/linear.h"
#include "blt/model/model_config.h"
#include "blt/model/transformer_layer.h"

namespace blt::model {

class GlobalTransformerImpl : public torch::nn::Module {
 public:
  explicit GlobalTransformerImpl(const ModelConfig& config);
  // patch_states [B, P, k * d_l] -> [B, P, d_g]
  torch::Tensor forward(const torch::Tensor& patch_states);
  // The layers' input: patch_states [B, P, k * d_l] -> [B, P, d_g].
  torch::Tensor project(const torch::Tensor& patch_states);

  Linear token_embedding_projection{nullptr};  // null when k * d_l == d_g
  torch::nn::ModuleList layers{nullptr};

 private:
  TransformerShape shape_;
};
TORCH_MODULE(GlobalTransformer);

}  // namespace blt::model
