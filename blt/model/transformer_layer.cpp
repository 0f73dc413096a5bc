#include "blt/model/transformer_layer.h"

#include "blt/model/activation_checkpoint.h"
#include "blt/model/unit_hooks.h"

namespace blt::model {

TransformerLayerImpl::TransformerLayerImpl(const TransformerShape& shape) {
  self_attn = register_module("self_attn", SelfAttention(shape.dim, shape.heads, shape.kv_head_count()));
  mlp = register_module("mlp", FeedForward(shape.dim, shape.ffn_dim));
  input_layernorm = register_module("input_layernorm", RMSNorm(shape.dim, shape.norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(shape.dim, shape.norm_eps));
}

torch::Tensor TransformerLayerImpl::forward(const torch::Tensor& input, const RopeTable& rope,
                                            const AttentionPattern& pattern) {
  return with_unit_hook(this, input, [&](const torch::Tensor& x) {  // fsdp gathers this block here
    if (!checkpoint_activations_ || !is_training()) return block(x, rope, pattern);
    return checkpointed([this, rope, pattern](const std::vector<torch::Tensor>& in) { return block(in[0], rope, pattern); },
                        {x});
  });
}

torch::Tensor TransformerLayerImpl::block(const torch::Tensor& x, const RopeTable& rope, const AttentionPattern& pattern) {
  auto h = x + self_attn(input_layernorm(x), rope, pattern);
  return h + mlp(post_attention_layernorm(h));
}

torch::Tensor TransformerLayerImpl::step(const torch::Tensor& x, const RopeTable& rope, LayerKVCache& cache,
                                         const torch::Tensor& allowed) {
  auto h = x + self_attn->step(input_layernorm(x), rope, cache, allowed);
  return h + mlp(post_attention_layernorm(h));
}

torch::nn::ModuleList make_layers(const TransformerShape& shape) {
  torch::nn::ModuleList list;
  for (int64_t i = 0; i < shape.layers; ++i) list->push_back(TransformerLayer(shape));
  return list;
}

RopeTable rope_for(const TransformerShape& shape, int64_t length, torch::ScalarType dtype, const torch::Device& device) {
  auto positions = torch::arange(length, torch::TensorOptions().dtype(torch::kLong).device(device));
  return rope_table(positions, shape.head_dim(), shape.rope_theta, dtype);
}

}  // namespace blt::model
