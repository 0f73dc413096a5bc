// BLT local decoder: starting from the encoder's byte states, each layer first
// lets every byte read its patch's k global vectors (cross-attention), then runs
// a local byte layer; a final RMSNorm feeds the head.
#pragma once
#include <torch/torch.h>

#include "blt/model/cross_attention.h"
#include "blt/model/linear.h"
#include "blt/model/model_config.h"
#include "blt/model/rms_norm.h"
#include "blt/model/transformer_layer.h"

namespace blt::model {

class LocalDecoderImpl : public torch::nn::Module {
 public:
  explicit LocalDecoderImpl(const ModelConfig& config);
  // byte_states [B, L, d_l], global_states [B, P, d_g], decoder_patch_ids [B, L] -> [B, L, d_l] (normed)
  torch::Tensor forward(const torch::Tensor& byte_states, const torch::Tensor& global_states,
                        const torch::Tensor& decoder_patch_ids, const AttentionPattern& pattern,
                        bool dense_cross_attention = false);
  // The k vectors per patch that bytes read: global_states [B, P, d_g] -> [B, P * k, d_l].
  torch::Tensor patch_vectors(const torch::Tensor& global_states);
  // Whether decoder layer `layer` starts with a cross-attention (which one: cross_attention(layer)).
  bool reads_patches(int64_t layer) const { return layer == 0 || all_layers_; }
  CrossAttentionImpl* cross_attention(int64_t layer) {
    return cross_attn_layers[static_cast<std::size_t>(all_layers_ ? layer : 0)]->as<CrossAttention>();
  }

  Linear patch_embedding_projection{nullptr};
  torch::nn::ModuleList layers{nullptr};
  torch::nn::ModuleList cross_attn_layers{nullptr};
  RMSNorm norm{nullptr};

 private:
  TransformerShape shape_;
  int64_t k_;
  bool all_layers_;
};
TORCH_MODULE(LocalDecoder);

}  // namespace blt::model
