// BLT latent (global) transformer: causal Llama layers over patch vectors, with
// an input projection when k * d_l differs from d_g. No final norm (as released).
#pragma once
#include <torch/torch.h>

#include <memory>

#include "blt/model/graphed_call.h"
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
  // Replay forward and backward from CUDA graphs where a call allows it (model/graphed_call.h).
  void set_cuda_graphs(bool on);
  const GraphedCall* graphed() const { return graphed_.get(); }

  Linear token_embedding_projection{nullptr};  // null when k * d_l == d_g
  torch::nn::ModuleList layers{nullptr};

 private:
  torch::Tensor run(const torch::Tensor& patch_states);

  TransformerShape shape_;
  std::unique_ptr<GraphedCall> graphed_;
};
TORCH_MODULE(GlobalTransformer);

}  // namespace blt::model
