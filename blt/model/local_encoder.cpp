#include "blt/model/local_encoder.h"

#include "blt/model/component_marks.h"
#include "blt/model/init.h"

namespace blt::model {

torch::Tensor max_pool_patches(const torch::Tensor& states, const torch::Tensor& patch_ids, int64_t patches) {
  const int64_t B = states.size(0), L = states.size(1), D = states.size(2);
  auto index = patch_ids.view({B, L, 1}).expand({B, L, D});
  return torch::zeros({B, patches, D}, states.options()).scatter_reduce(1, index, states, "amax", /*include_self=*/false);
}

LocalEncoderImpl::LocalEncoderImpl(const ModelConfig& config)
    : shape_(config.local_encoder), k_(config.cross_attn_k), all_layers_(config.cross_attn_all_encoder_layers) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(embedding_options(config.vocab_size, shape_.dim)));
  layers = register_module("layers", make_layers(shape_));
  patch_embedding_projection =
      register_module("patch_embedding_projection", Linear(shape_.dim, shape_.dim * k_));
  cross_attn_layers = register_module("cross_attn_layers", torch::nn::ModuleList());
  const int64_t n_cross = all_layers_ ? shape_.layers : 1;
  for (int64_t i = 0; i < n_cross; ++i)
    cross_attn_layers->push_back(CrossAttention(shape_.dim, shape_.heads, shape_.kv_head_count(), shape_.norm_eps));
}

EncoderOutput LocalEncoderImpl::forward(const torch::Tensor& embeds, const AttentionPattern& pattern,
                                        const torch::Tensor& patch_ids, int64_t patches, bool dense_cross_attention) {
  const int64_t L = embeds.size(1);
  auto rope = rope_for(shape_, L, embeds.scalar_type(), embeds.device());
  auto h = embeds;
  torch::Tensor patch_states;
  for (int64_t i = 0; i < shape_.layers; ++i) {
    h = mark_component("local encoder", layers[static_cast<std::size_t>(i)]->as<TransformerLayer>()->forward(h, rope, pattern));
    if (i + 1 < shape_.layers && !all_layers_) continue;
    patch_states = mark_component("encoder cross-attention", pool(i, h, patch_ids, patches, dense_cross_attention));
  }
  return {h, patch_states};
}

torch::Tensor LocalEncoderImpl::pool(int64_t layer, const torch::Tensor& h, const torch::Tensor& patch_ids,
                                     int64_t patches, bool dense_cross_attention) {
  const int64_t B = h.size(0);
  // As in the HF port: patch queries are re-initialised from this layer's
  // byte states (max-pool, projected to k vectors) at every pooling layer.
  auto queries = patch_embedding_projection(max_pool_patches(h, patch_ids, patches)).reshape({B, patches * k_, shape_.dim});
  auto cross = cross_attn_layers[static_cast<std::size_t>(all_layers_ ? layer : 0)]->as<CrossAttention>();
  auto pooled = dense_cross_attention ? cross->dense(queries, h, pool_bytes_mask(patch_ids, patches, k_))
                                      : cross->pool_bytes(queries, h, patch_ids, k_);
  return (queries + pooled).reshape({B, patches, k_ * shape_.dim});
}

}  // namespace blt::model
