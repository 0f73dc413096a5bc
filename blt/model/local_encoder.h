// BLT local encoder: byte layers with local (windowed, document-blocked) causal
// attention, then cross-attention pooling of each patch's bytes into k vectors.
#pragma once
#include <torch/torch.h>

#include "blt/model/cross_attention.h"
#include "blt/model/linear.h"
#include "blt/model/model_config.h"
#include "blt/model/transformer_layer.h"

namespace blt::model {

struct EncoderOutput {
  torch::Tensor byte_states;   // [B, L, d_l]
  torch::Tensor patch_states;  // [B, P, k * d_l]
};

class LocalEncoderImpl : public torch::nn::Module {
 public:
  explicit LocalEncoderImpl(const ModelConfig& config);
  // embeds [B, L, d_l] (byte + hash embeddings), patch_ids [B, L], P patches.
  EncoderOutput forward(const torch::Tensor& embeds, const AttentionPattern& pattern, const torch::Tensor& patch_ids,
                        int64_t patches, bool dense_cross_attention = false);
  // The patch vectors [B, P, k * d_l] that the pooling after encoder layer `layer`
  // makes of that layer's byte states h [B, L, d_l]. The encoder's output is the
  // pooling after its last layer.
  torch::Tensor pool(int64_t layer, const torch::Tensor& h, const torch::Tensor& patch_ids, int64_t patches,
                     bool dense_cross_attention = false);

  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  Linear patch_embedding_projection{nullptr};
  torch::nn::ModuleList cross_attn_layers{nullptr};

 private:
  TransformerShape shape_;
  int64_t k_;
  bool all_layers_;
};
TORCH_MODULE(LocalEncoder);

// Max over the bytes of each patch: [B, L, D] -> [B, P, D]; empty patches give 0.
torch::Tensor max_pool_patches(const torch::Tensor& states, const torch::Tensor& patch_ids, int64_t patches);

}  // namespace blt::model
