#include "blt/model/local_decoder.h"

#include "blt/model/component_marks.h"

namespace blt::model {

LocalDecoderImpl::LocalDecoderImpl(const ModelConfig& config)
    : shape_(config.local_decoder), k_(config.cross_attn_k), all_layers_(config.cross_attn_all_decoder_layers) {
  layers = register_module("layers", make_layers(shape_));
  patch_embedding_projection =
      register_module("patch_embedding_projection", Linear(config.global.dim, shape_.dim * k_));
  norm = register_module("norm", RMSNorm(shape_.dim, shape_.norm_eps));
  cross_attn_layers = register_module("cross_attn_layers", torch::nn::ModuleList());
  const int64_t n_cross = all_layers_ ? shape_.layers : 1;
  for (int64_t i = 0; i < n_cross; ++i)
    cross_attn_layers->push_back(CrossAttention(shape_.dim, shape_.heads, shape_.kv_head_count(), shape_.norm_eps));
}

torch::Tensor LocalDecoderImpl::forward(const torch::Tensor& byte_states, const torch::Tensor& global_states,
                                        const torch::Tensor& decoder_patch_ids, const AttentionPattern& pattern,
                                        bool dense_cross_attention) {
  const int64_t L = byte_states.size(1), P = global_states.size(1);
  auto patch_kv = patch_vectors(global_states);
  auto rope = rope_for(shape_, L, byte_states.scalar_type(), byte_states.device());
  auto h = byte_states;
  for (int64_t i = 0; i < shape_.layers; ++i) {
    if (reads_patches(i)) {
      auto cross = cross_attention(i);
      h = mark_component("decoder cross-attention",
                         h + (dense_cross_attention ? cross->dense(h, patch_kv, read_patches_mask(decoder_patch_ids, P, k_))
                                                    : cross->read_patches(h, patch_kv, decoder_patch_ids, k_)));
    }
    h = mark_component("local decoder", layers[static_cast<std::size_t>(i)]->as<TransformerLayer>()->forward(h, rope, pattern));
  }
  return norm(h);
}

torch::Tensor LocalDecoderImpl::patch_vectors(const torch::Tensor& global_states) {
  const int64_t B = global_states.size(0), P = global_states.size(1);
  return patch_embedding_projection(global_states).reshape({B, P * k_, shape_.dim});
}

}  // namespace blt::model
