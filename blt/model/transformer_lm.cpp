#include "blt/model/transformer_lm.h"

#include "blt/core/error.h"
#include "blt/model/token_ids.h"
#include "blt/model/unit_hooks.h"

namespace blt::model {

TransformerLM::TransformerLM(const ModelConfig& config) : CausalLM(config) {
  const auto& s = config_.transformer;
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(config_.vocab_size, s.dim));
  layers = register_module("layers", make_layers(s));
  norm = register_module("norm", RMSNorm(s.dim, s.norm_eps));
  lm_head = register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(s.dim, config_.vocab_size).bias(false)));
}

AttentionPattern TransformerLM::pattern_for(const torch::Tensor& tokens) const {
  AttentionPattern pattern;
  pattern.window = config_.transformer.sliding_window;
  if (byte_level() && config_.document_mask) pattern.document_ids = document_ids_from_tokens(tokens, kEosId);
  return pattern;
}

torch::Tensor TransformerLM::logits(const torch::Tensor& tokens) {
  if (tokens.size(1) > config_.transformer.max_seq_len)
    fail("{}: {} positions exceed model.transformer.max_seq_len = {}", config_.type, tokens.size(1),
         config_.transformer.max_seq_len);
  auto h = with_unit_hook(embed_tokens.get(), tokens, [&](const torch::Tensor& t) { return embed_tokens(t); });
  auto rope = rope_for(config_.transformer, tokens.size(1), h.scalar_type(), h.device());
  const auto pattern = pattern_for(tokens);
  for (const auto& layer : *layers) h = layer->as<TransformerLayer>()->forward(h, rope, pattern);
  return lm_head(norm(h));
}

torch::Tensor TransformerLM::forward(const ModelInput& input) {
  if (input.patch_lengths.defined()) fail("model type {} takes no patch_lengths", config_.type);
  return logits(input.tokens);
}

torch::Tensor TransformerLM::step(const torch::Tensor& tokens, LMCache& cache) {
  const auto& s = config_.transformer;
  const int64_t B = tokens.size(0);
  auto lopts = torch::TensorOptions().dtype(torch::kLong).device(tokens.device());
  // Document of the new position: the previous one's, plus one if it was EOS.
  torch::Tensor doc = cache.length == 0 ? torch::zeros({B}, lopts)
                                        : cache.last_document + cache.last_tokens.eq(kEosId).to(torch::kLong);
  auto pos = torch::full({1}, cache.length, lopts);
  cache.positions = cache.length == 0 ? pos : torch::cat({cache.positions, pos});
  cache.document_ids = cache.length == 0 ? doc.unsqueeze(1) : torch::cat({cache.document_ids, doc.unsqueeze(1)}, 1);
  if (cache.layers.empty()) cache.layers.resize(layers->size());

  auto allowed = torch::ones({B, cache.positions.size(0)}, lopts.dtype(torch::kBool));
  if (s.sliding_window > 0) allowed = allowed.logical_and(cache.positions.gt(cache.length - s.sliding_window).unsqueeze(0));
  if (byte_level() && config_.document_mask) allowed = allowed.logical_and(cache.document_ids.eq(doc.unsqueeze(1)));

  auto h = embed_tokens(tokens.view({B, 1}));
  auto rope = rope_table(pos, s.head_dim(), s.rope_theta, h.scalar_type());
  for (std::size_t i = 0; i < layers->size(); ++i)
    h = layers[i]->as<TransformerLayer>()->step(h, rope, cache.layers[i], allowed);

  cache.last_tokens = tokens.view({B});
  cache.last_document = doc;
  ++cache.length;
  // Entries that no future position can see (outside every later window) are dropped.
  if (s.sliding_window > 0 && cache.positions.size(0) >= s.sliding_window) {
    const int64_t keep = s.sliding_window - 1, drop = cache.positions.size(0) - keep;
    cache.positions = cache.positions.narrow(0, drop, keep);
    cache.document_ids = cache.document_ids.narrow(1, drop, keep);
    for (auto& l : cache.layers) {
      l.keys = l.keys.narrow(2, drop, keep);
      l.values = l.values.narrow(2, drop, keep);
    }
  }
  return lm_head(norm(h)).view({B, -1});
}

std::vector<ComponentCount> TransformerLM::parameter_counts() const {
  return count_by_prefix(*this, {{"embeddings", "embed_tokens."}, {"transformer", "layers."},
                                 {"transformer", "norm."}, {"head", "lm_head."}});
}

}  // namespace blt::model
