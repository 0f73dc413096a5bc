#include "blt/model/kv_cache.h"

#include "blt/model/transformer_layer.h"

namespace blt::model {

StepContext begin_step(const TransformerShape& shape, StackCache& cache, int64_t batch, torch::ScalarType dtype,
                       const torch::Device& device, const torch::Tensor& document) {
  auto lopts = torch::TensorOptions().dtype(torch::kLong).device(device);
  auto pos = torch::full({1}, cache.length, lopts);
  // A window of one position keeps no entries, so "first" is about the tensors, not the length.
  const bool first = cache.positions.numel() == 0;
  cache.positions = first ? pos : torch::cat({cache.positions, pos});
  if (document.defined())
    cache.document_ids =
        first ? document.view({batch, 1}) : torch::cat({cache.document_ids, document.view({batch, 1})}, 1);

  auto allowed = torch::ones({batch, cache.positions.size(0)}, lopts.dtype(torch::kBool));
  if (shape.sliding_window > 0)
    allowed = allowed.logical_and(cache.positions.gt(cache.length - shape.sliding_window).unsqueeze(0));
  if (document.defined()) allowed = allowed.logical_and(cache.document_ids.eq(document.view({batch, 1})));
  return {rope_table(pos, shape.head_dim(), shape.rope_theta, dtype), allowed};
}

void finish_step(const TransformerShape& shape, StackCache& cache) {
  ++cache.length;
  if (shape.sliding_window <= 0 || cache.positions.size(0) < shape.sliding_window) return;
  const int64_t keep = shape.sliding_window - 1, drop = cache.positions.size(0) - keep;
  cache.positions = cache.positions.narrow(0, drop, keep);
  if (cache.document_ids.defined()) cache.document_ids = cache.document_ids.narrow(1, drop, keep);
  for (auto& l : cache.layers) {
    l.keys = l.keys.narrow(2, drop, keep);
    l.values = l.values.narrow(2, drop, keep);
  }
}

torch::Tensor step_stack(torch::nn::ModuleList layers, const TransformerShape& shape, const torch::Tensor& x,
                         StackCache& cache, const torch::Tensor& document) {
  if (cache.layers.empty()) cache.layers.resize(layers->size());
  const auto context = begin_step(shape, cache, x.size(0), x.scalar_type(), x.device(), document);
  auto h = x;
  for (std::size_t i = 0; i < layers->size(); ++i)
    h = layers[i]->as<TransformerLayer>()->step(h, context.rope, cache.layers[i], context.allowed);
  finish_step(shape, cache);
  return h;
}

}  // namespace blt::model
