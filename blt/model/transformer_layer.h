// Pre-norm Llama block: x + attn(norm(x)), then + ffn(norm(x)); and a stack of them.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "blt/model/feed_forward.h"
#include "blt/model/model_config.h"
#include "blt/model/rms_norm.h"
#include "blt/model/self_attention.h"

namespace blt::model {

class TransformerLayerImpl : public torch::nn::Module {
 public:
  explicit TransformerLayerImpl(const TransformerShape& shape);
  torch::Tensor forward(const torch::Tensor& x, const RopeTable& rope, const AttentionPattern& pattern);
  torch::Tensor step(const torch::Tensor& x, const RopeTable& rope, LayerKVCache& cache, const torch::Tensor& allowed);
  // In training, keep only the layer's input and recompute the rest in backward.
  void set_activation_checkpointing(bool on) { checkpoint_activations_ = on; }

  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  SelfAttention self_attn{nullptr};
  FeedForward mlp{nullptr};

 private:
  torch::Tensor block(const torch::Tensor& x, const RopeTable& rope, const AttentionPattern& pattern);
  bool checkpoint_activations_ = false;
};
TORCH_MODULE(TransformerLayer);

// Builds `shape.layers` layers into `list` (registered by the caller as "layers").
torch::nn::ModuleList make_layers(const TransformerShape& shape);

// Angles for positions 0..length-1 of a stack with this shape.
RopeTable rope_for(const TransformerShape& shape, int64_t length, torch::ScalarType dtype, const torch::Device& device);

}  // namespace blt::model
