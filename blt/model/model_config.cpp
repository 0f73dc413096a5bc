#include "blt/model/model_config.h"

#include "blt/core/error.h"

namespace blt::model {

namespace {

void validate_shape(const TransformerShape& s, const std::string& key) {
  if (s.dim % s.heads != 0)
    fail("{0}.heads ({1}) must divide {0}.dim ({2})", key, s.heads, s.dim);
  if (s.head_dim() % 2 != 0)
    fail("{0}.dim / {0}.heads = {1} must be even (RoPE rotates pairs)", key, s.head_dim());
  if (s.heads % s.kv_head_count() != 0)
    fail("{0}.kv_heads ({1}) must divide {0}.heads ({2})", key, s.kv_head_count(), s.heads);
}

}  // namespace

void ModelConfig::validate(const std::string& prefix) const {
  const std::string p = prefix.empty() ? std::string() : prefix + ".";
  if (type == "byte_lm" || type == "token_lm") {
    validate_shape(transformer, p + "transformer");
    if (type == "byte_lm" && vocab_size != 260)
      fail("{}vocab_size must be 260 for type byte_lm (4 special ids + 256 bytes), got {}", p, vocab_size);
    return;
  }
  if (type != "blt") fail("{}type must be blt, byte_lm or token_lm, got '{}'", p, type);
  if (vocab_size != 260) fail("{}vocab_size must be 260 for type blt, got {}", p, vocab_size);
  validate_shape(local_encoder, p + "local_encoder");
  validate_shape(global, p + "global");
  validate_shape(local_decoder, p + "local_decoder");
  if (local_encoder.dim != local_decoder.dim)
    fail("{0}local_encoder.dim ({1}) must equal {0}local_decoder.dim ({2}): the decoder starts from the "
         "encoder's byte states",
         p, local_encoder.dim, local_decoder.dim);
  if (local_encoder.layers < 1) fail("{}local_encoder.layers must be >= 1 (cross-attention pooling follows a layer)", p);
  if (local_decoder.layers < 1) fail("{}local_decoder.layers must be >= 1", p);
  for (std::size_t i = 0; i < hash.ngram_sizes.size(); ++i)
    if (hash.ngram_sizes[i] < 1 || hash.ngram_sizes[i] > 64)
      fail("{}hash.ngram_sizes[{}] = {} must be in [1, 64]", p, i, hash.ngram_sizes[i]);
}

}  // namespace blt::model
