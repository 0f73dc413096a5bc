// BLT local decoder: starting from the encoder's byte states, each layer first
// lets every byte read its patch's k global vectors (cross-attention), then runs
// a local byte layer; a final RMSNorm feeds the head.
#pragma once
#include <torch/torch.h>

#include "blt/model/cross_attention.h"
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

  torch::nn::Linear patch_embedding_projection{nullptr};
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
