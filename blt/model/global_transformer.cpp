#include "blt/model/global_transformer.h"

namespace blt::model {

GlobalTransformerImpl::GlobalTransformerImpl(const ModelConfig& config) : shape_(config.global) {
  const int64_t in = config.cross_attn_k * config.local_encoder.dim;
  if (in != shape_.dim)
    token_embedding_projection = register_module("token_embedding_projection", Linear(in, shape_.dim));
  layers = register_module("layers", make_layers(shape_));
}

torch::Tensor GlobalTransformerImpl::project(const torch::Tensor& patch_states) {
  return token_embedding_projection ? token_embedding_projection(patch_states) : patch_states;
}

torch::Tensor GlobalTransformerImpl::forward(const torch::Tensor& patch_states) {
  return graphed_ ? (*graphed_)(patch_states) : run(patch_states);
}

void GlobalTransformerImpl::set_cuda_graphs(bool on) {
  graphed_ = on ? std::make_unique<GraphedCall>(*this, [this](const torch::Tensor& x) { return run(x); }) : nullptr;
}

torch::Tensor GlobalTransformerImpl::run(const torch::Tensor& patch_states) {
  auto h = project(patch_states);
  auto rope = rope_for(shape_, h.size(1), h.scalar_type(), h.device());
  AttentionPattern causal;
  causal.window = shape_.sliding_window;
  for (const auto& layer : *layers) h = layer->as<TransformerLayer>()->forward(h, rope, causal);
  return h;
}

}  // namespace blt::model
