#include "blt/model/parameter_count.h"

namespace blt::model {

namespace {

int64_t attention_params(const TransformerShape& s) {
  const int64_t q = s.heads * s.head_dim(), kv = s.kv_head_count() * s.head_dim();
  return s.dim * q + 2 * s.dim * kv + q * s.dim;
}

int64_t layer_params(const TransformerShape& s) { return attention_params(s) + 3 * s.dim * s.ffn_dim + 2 * s.dim; }

int64_t cross_attention_params(const TransformerShape& s) { return attention_params(s) + 2 * s.dim; }

}  // namespace

std::vector<ComponentCount> parameter_counts_from_shapes(const ModelConfig& c) {
  if (c.type != "blt") {
    const auto& s = c.transformer;
    return {{"embeddings", c.vocab_size * s.dim},
            {"transformer", s.layers * layer_params(s) + s.dim},
            {"head", s.dim * c.vocab_size}};
  }
  const auto &enc = c.local_encoder, &glob = c.global, &dec = c.local_decoder;
  const int64_t k = c.cross_attn_k;
  const int64_t enc_cross = c.cross_attn_all_encoder_layers ? enc.layers : 1;
  const int64_t dec_cross = c.cross_attn_all_decoder_layers ? dec.layers : 1;
  const int64_t global_in = k * enc.dim;
  return {
      {"embeddings", c.vocab_size * enc.dim},
      {"hash_embeddings", c.hash.tables() * c.hash.vocab * enc.dim},
      {"local_encoder", enc.layers * layer_params(enc) + enc.dim * k * enc.dim + enc_cross * cross_attention_params(enc)},
      {"global", (global_in != glob.dim ? global_in * glob.dim : 0) + glob.layers * layer_params(glob)},
      {"local_decoder",
       dec.layers * layer_params(dec) + glob.dim * k * dec.dim + dec_cross * cross_attention_params(dec) + dec.dim},
      {"head", dec.dim * c.vocab_size},
  };
}

int64_t total_parameters(const std::vector<ComponentCount>& counts) {
  int64_t n = 0;
  for (const auto& c : counts) n += c.parameters;
  return n;
}

}  // namespace blt::model
