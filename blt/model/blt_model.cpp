#include "blt/model/blt_model.h"

#include <fmt/ranges.h>  // shapes in messages

#include "blt/core/error.h"
#include "blt/model/component_marks.h"
#include "blt/model/hash_ngram.h"
#include "blt/model/init.h"
#include "blt/model/patch_ids.h"
#include "blt/model/patcher.h"
#include "blt/model/token_ids.h"
#include "blt/model/unit_hooks.h"

namespace blt::model {

BltModel::BltModel(const ModelConfig& config) : CausalLM(config) {
  local_encoder = register_module("local_encoder", LocalEncoder(config_));
  if (config_.hash.tables() > 0)
    encoder_hash_tok_embedding = register_module(
        "encoder_hash_tok_embedding",
        torch::nn::Embedding(embedding_options(config_.hash.tables() * config_.hash.vocab, config_.local_encoder.dim)));
  global_transformer = register_module("global_transformer", GlobalTransformer(config_));
  local_decoder = register_module("local_decoder", LocalDecoder(config_));
  lm_head = register_module("lm_head", Linear(config_.local_decoder.dim, config_.vocab_size));
}

void BltModel::set_sparse_hash_gradients(bool on) {
  if (encoder_hash_tok_embedding) encoder_hash_tok_embedding->options.sparse(on);
}

torch::Tensor BltModel::embed(const torch::Tensor& tokens) {
  auto& byte_table = local_encoder->embed_tokens;
  auto h = with_unit_hook(byte_table.get(), tokens, [&](const torch::Tensor& t) { return byte_table(t); });
  if (encoder_hash_tok_embedding) {
    // One lookup for all tables: its backward builds the (huge) dense table
    // gradient once instead of once per table.
    const auto rows = hash_embedding_rows(tokens, config_.hash);
    auto& hash_table = encoder_hash_tok_embedding;
    h = h + with_unit_hook(hash_table.get(), rows, [&](const torch::Tensor& r) { return hash_table(r); }).sum(2);
  }
  return h;
}

torch::Tensor BltModel::run(const ModelInput& input, bool dense) {
  const auto& tokens = input.tokens;
  if (tokens.dim() != 2) fail("blt model: tokens must be [batch, length], got {}", tokens.sizes());
  const int64_t B = tokens.size(0), L = tokens.size(1);
  torch::Tensor lengths = input.patch_lengths;
  if (!lengths.defined()) {
    if (!patcher_) {
      if (config_.patching.mode == "entropy" || config_.patching.mode == "entropy_monotonic")
        fail("blt model: no patch_lengths given and patching.mode {} needs an entropy model (set_patcher)",
             config_.patching.mode);
      patcher_ = std::make_shared<Patcher>(config_.patching, nullptr);
    }
    lengths = patcher_->patch(tokens);
  }
  check_patch_lengths(lengths, B, L);
  lengths = lengths.to(tokens.device());
  const int64_t P = lengths.size(1);
  if (L > config_.local_encoder.max_seq_len)
    fail("blt model: {} bytes exceed model.local_encoder.max_seq_len = {}", L, config_.local_encoder.max_seq_len);
  if (P > config_.global.max_seq_len)
    fail("blt model: {} patches exceed model.global.max_seq_len = {}", P, config_.global.max_seq_len);

  AttentionPattern local;
  local.window = config_.local_encoder.sliding_window;
  local.dense_reference = dense;
  if (config_.document_mask) {
    local.document_ids = document_ids_from_tokens(tokens, kEosId);
    local.spans = input.documents;
  } else if (tokens.is_cuda()) {  // only CUDA runs attention over spans
    local.spans = row_spans(B, L, tokens.device());
  }

  auto patch_ids = patch_ids_from_lengths(lengths, L);
  auto encoded = local_encoder(mark_component("embeddings", embed(tokens)), local, patch_ids, P, dense);
  auto global = mark_component("global", global_transformer(encoded.patch_states));
  AttentionPattern decoder_local = local;
  decoder_local.window = config_.local_decoder.sliding_window;
  auto decoded = local_decoder(encoded.byte_states, global, decoder_patch_ids_from_lengths(lengths, L), decoder_local, dense);
  return mark_component("lm head", lm_head(decoded));
}

torch::Tensor BltModel::forward(const ModelInput& input) { return run(input, false); }

torch::Tensor BltModel::forward_dense_reference(const ModelInput& input) { return run(input, true); }

std::vector<ComponentCount> BltModel::parameter_counts() const {
  return count_by_prefix(*this, {{"embeddings", "local_encoder.embed_tokens."},
                                 {"hash_embeddings", "encoder_hash_tok_embedding."},
                                 {"local_encoder", "local_encoder."},
                                 {"global", "global_transformer."},
                                 {"local_decoder", "local_decoder."},
                                 {"head", "lm_head."}});
}

}  // namespace blt::model
