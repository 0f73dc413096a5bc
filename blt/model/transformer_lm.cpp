#include "blt/model/transformer_lm.h"

#include "blt/core/error.h"
#include "blt/model/component_marks.h"
#include "blt/model/init.h"
#include "blt/model/token_ids.h"
#include "blt/model/unit_hooks.h"

namespace blt::model {

TransformerLM::TransformerLM(const ModelConfig& config) : CausalLM(config) {
  const auto& s = config_.transformer;
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(embedding_options(config_.vocab_size, s.dim)));
  layers = register_module("layers", make_layers(s));
  norm = register_module("norm", RMSNorm(s.dim, s.norm_eps));
  lm_head = register_module("lm_head", Linear(s.dim, config_.vocab_size));
}

AttentionPattern TransformerLM::pattern_for(const torch::Tensor& tokens, const SequenceSpans& documents) const {
  AttentionPattern pattern;
  pattern.window = config_.transformer.sliding_window;
  if (byte_level() && config_.document_mask) {
    pattern.document_ids = document_ids_from_tokens(tokens, kEosId);
    pattern.spans = documents;
  } else if (tokens.is_cuda()) {  // only CUDA runs attention over spans
    pattern.spans = row_spans(tokens.size(0), tokens.size(1), tokens.device());
  }
  return pattern;
}

torch::Tensor TransformerLM::logits(const torch::Tensor& tokens, const SequenceSpans& documents) {
  if (tokens.size(1) > config_.transformer.max_seq_len)
    fail("{}: {} positions exceed model.transformer.max_seq_len = {}", config_.type, tokens.size(1),
         config_.transformer.max_seq_len);
  auto h = mark_component("embeddings", with_unit_hook(embed_tokens.get(), tokens,
                                                        [&](const torch::Tensor& t) { return embed_tokens(t); }));
  auto rope = rope_for(config_.transformer, tokens.size(1), h.scalar_type(), h.device());
  const auto pattern = pattern_for(tokens, documents);
  for (const auto& layer : *layers) h = mark_component("layers", layer->as<TransformerLayer>()->forward(h, rope, pattern));
  return mark_component("lm head", lm_head(norm(h)));
}

torch::Tensor TransformerLM::forward(const ModelInput& input) {
  if (input.patch_lengths.defined()) fail("model type {} takes no patch_lengths", config_.type);
  return logits(input.tokens, input.documents);
}

torch::Tensor TransformerLM::step(const torch::Tensor& tokens, LMCache& cache) {
  const int64_t B = tokens.size(0);
  torch::Tensor document;
  if (byte_level() && config_.document_mask) {
    // Document of the new position: the previous one's, plus one if it was EOS.
    document = cache.stack.length == 0 ? torch::zeros({B}, tokens.options().dtype(torch::kLong))
                                       : cache.last_document + cache.last_tokens.eq(kEosId).to(torch::kLong);
    cache.last_tokens = tokens.view({B});
    cache.last_document = document;
  }
  auto h = step_stack(layers, config_.transformer, embed_tokens(tokens.view({B, 1})), cache.stack, document);
  return lm_head(norm(h)).view({B, -1});
}

std::vector<ComponentCount> TransformerLM::parameter_counts() const {
  return count_by_prefix(*this, {{"embeddings", "embed_tokens."}, {"transformer", "layers."},
                                 {"transformer", "norm."}, {"head", "lm_head."}});
}

}  // namespace blt::model
