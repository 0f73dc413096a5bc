// Model shapes for the three model types blt trains: the BLT itself, the byte LM
// (the entropy model that drives patching) and the token LM (BPE baseline).
// Read strictly from the `model:` section; `validate()` checks the facts that
// span several keys and names the keys in its messages.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "blt/config/yaml_config.h"

namespace blt::model {

// One stack of Llama-style layers (RMSNorm, RoPE, SwiGLU, no biases).
struct TransformerShape {
  int64_t dim = 128;
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t kv_heads = 0;  // 0 = same as heads (no GQA)
  int64_t ffn_dim = 352;
  double norm_eps = 1e-5;
  double rope_theta = 500000.0;
  int64_t sliding_window = 0;  // 0 = unlimited causal attention
  int64_t max_seq_len = 4096;

  int64_t kv_head_count() const { return kv_heads > 0 ? kv_heads : heads; }
  int64_t head_dim() const { return dim / heads; }

  template <class V>
  void visit(V& v) {
    using namespace blt::config;
    v.field("dim", dim, "hidden size", positive<int64_t>());
    v.field("layers", layers, "number of transformer layers", at_least<int64_t>(0));
    v.field("heads", heads, "attention heads", positive<int64_t>());
    v.field("kv_heads", kv_heads, "key/value heads (grouped-query attention); 0 = heads", at_least<int64_t>(0));
    v.field("ffn_dim", ffn_dim, "SwiGLU hidden size", positive<int64_t>());
    v.field("norm_eps", norm_eps, "RMSNorm epsilon", positive<double>());
    v.field("rope_theta", rope_theta, "RoPE base", positive<double>());
    v.field("sliding_window", sliding_window, "self-attention window in positions; 0 = unlimited", at_least<int64_t>(0));
    v.field("max_seq_len", max_seq_len, "longest sequence (bytes, tokens or patches) this stack is used with",
            positive<int64_t>());
  }
};

// Hash n-gram embeddings of the BLT local encoder (spec section 3).
struct HashEmbeddingConfig {
  int64_t vocab = 500002;  // rows per table
  int64_t functions = 1;   // hash functions (primes)
  std::vector<int64_t> ngram_sizes{3, 4, 5, 6, 7, 8};

  int64_t tables() const { return functions * static_cast<int64_t>(ngram_sizes.size()); }

  template <class V>
  void visit(V& v) {
    using namespace blt::config;
    v.field("vocab", vocab, "rows per hash table", positive<int64_t>());
    v.field("functions", functions, "number of hash functions (0 disables hash embeddings)", in_range<int64_t>(0, 11));
    v.field("ngram_sizes", ngram_sizes, "byte n-gram sizes that get a table per hash function");
  }
};

// How byte sequences are cut into patches when no patch lengths are given.
struct PatchingConfig {
  std::string mode = "entropy";
  int64_t static_size = 4;
  double threshold = 1.335442066192627;  // released 1B/7B global entropy threshold (nats)
  double monotonic_threshold = 0.5;
  int64_t max_patch_length = 0;  // 0 = no cap
  std::string entropy_model;     // checkpoint of the byte LM used by entropy modes
  std::string entropy_precision = "fp32";

  template <class V>
  void visit(V& v) {
    using namespace blt::config;
    v.field("mode", mode, "static, space, entropy (global threshold) or entropy_monotonic",
            one_of({"static", "space", "entropy", "entropy_monotonic"}));
    v.field("static_size", static_size, "bytes per patch in static mode (after the one-byte first patch)",
            positive<int64_t>());
    v.field("threshold", threshold, "entropy mode: a patch starts where the next-byte entropy exceeds this (nats)");
    v.field("monotonic_threshold", monotonic_threshold,
            "entropy_monotonic mode: a patch starts where the entropy rises by more than this (nats)");
    v.field("max_patch_length", max_patch_length, "longest patch in bytes; longer ones are split; 0 = no cap",
            at_least<int64_t>(0));
    v.field("entropy_model", entropy_model, "checkpoint of the byte LM (entropy model) for the entropy modes");
    v.field("entropy_precision", entropy_precision,
            "the entropy model's arithmetic on CUDA: fp32, or bf16 (autocast: several times faster in the "
            "training loop, but a boundary whose entropy lies within bf16's rounding of the threshold may move; "
            "the CPU computes fp32 either way)",
            one_of({"fp32", "bf16"}));
  }
};

struct ModelConfig {
  std::string type = "blt";
  int64_t vocab_size = 260;  // 260 byte ids for blt/byte_lm; the BPE vocabulary for token_lm
  bool document_mask = true;  // local (byte) attention does not cross EOS
  // byte_lm / token_lm
  TransformerShape transformer;
  // blt
  TransformerShape local_encoder{256, 1, 4, 0, 704, 1e-5, 500000.0, 512, 24576};
  TransformerShape global{512, 2, 8, 0, 1408, 1e-5, 500000.0, 0, 4096};
  TransformerShape local_decoder{256, 2, 4, 0, 704, 1e-5, 500000.0, 512, 24576};
  int64_t cross_attn_k = 2;
  bool cross_attn_all_encoder_layers = false;
  bool cross_attn_all_decoder_layers = true;
  HashEmbeddingConfig hash;
  PatchingConfig patching;

  template <class V>
  void visit(V& v) {
    using namespace blt::config;
    v.field("type", type, "blt, byte_lm (entropy model) or token_lm", one_of({"blt", "byte_lm", "token_lm"}));
    v.field("vocab_size", vocab_size, "output ids: 260 for blt and byte_lm, the BPE vocabulary for token_lm",
            positive<int64_t>());
    v.field("document_mask", document_mask, "byte-level attention stops at EOS (documents packed in one sequence)");
    v.field("transformer", transformer, "byte_lm / token_lm: the decoder-only stack");
    v.field("local_encoder", local_encoder, "blt: byte-level encoder layers");
    v.field("global", global, "blt: latent transformer over patches");
    v.field("local_decoder", local_decoder, "blt: byte-level decoder layers");
    v.field("cross_attn_k", cross_attn_k, "blt: vectors per patch in cross-attention", positive<int64_t>());
    v.field("cross_attn_all_encoder_layers", cross_attn_all_encoder_layers,
            "blt: pool into patches after every encoder layer (false: after the last only)");
    v.field("cross_attn_all_decoder_layers", cross_attn_all_decoder_layers,
            "blt: cross-attend to patches before every decoder layer (false: before the first only)");
    v.field("hash", hash, "blt: hash n-gram embeddings");
    v.field("patching", patching, "blt: patch boundaries");
  }

  // Cross-field checks; throws blt::Error naming the keys (prefixed with `prefix`).
  void validate(const std::string& prefix = "model") const;
};

}  // namespace blt::model
