#include "blt/model/hf_layout.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace blt::model {
namespace {

void add_stack(std::vector<TensorShape>& out, const std::string& prefix, const TransformerShape& s) {
  const int64_t hd = s.head_dim(), q = s.heads * hd, kv = s.kv_head_count() * hd;
  for (int64_t i = 0; i < s.layers; ++i) {
    const std::string p = fmt::format("{}layers.{}.", prefix, i);
    out.push_back({p + "self_attn.q_proj.weight", {q, s.dim}});
    out.push_back({p + "self_attn.k_proj.weight", {kv, s.dim}});
    out.push_back({p + "self_attn.v_proj.weight", {kv, s.dim}});
    out.push_back({p + "self_attn.o_proj.weight", {s.dim, q}});
    out.push_back({p + "mlp.gate_proj.weight", {s.ffn_dim, s.dim}});
    out.push_back({p + "mlp.up_proj.weight", {s.ffn_dim, s.dim}});
    out.push_back({p + "mlp.down_proj.weight", {s.dim, s.ffn_dim}});
    out.push_back({p + "input_layernorm.weight", {s.dim}});
    out.push_back({p + "post_attention_layernorm.weight", {s.dim}});
  }
}

void add_cross_attention(std::vector<TensorShape>& out, const std::string& prefix, const TransformerShape& s,
                         int64_t count) {
  const int64_t hd = s.head_dim(), q = s.heads * hd, kv = s.kv_head_count() * hd;
  for (int64_t j = 0; j < count; ++j) {
    const std::string p = fmt::format("{}cross_attn_layers.{}.", prefix, j);
    out.push_back({p + "q_proj.weight", {q, s.dim}});
    out.push_back({p + "k_proj.weight", {kv, s.dim}});
    out.push_back({p + "v_proj.weight", {kv, s.dim}});
    out.push_back({p + "o_proj.weight", {s.dim, q}});
    out.push_back({p + "q_norm.weight", {s.dim}});
    out.push_back({p + "k_norm.weight", {s.dim}});
  }
}

}  // namespace

std::vector<TensorShape> parameter_layout(const ModelConfig& config) {
  std::vector<TensorShape> out;
  if (config.type == "byte_lm" || config.type == "token_lm") {
    const auto& s = config.transformer;
    out.push_back({"embed_tokens.weight", {config.vocab_size, s.dim}});
    add_stack(out, "", s);
    out.push_back({"norm.weight", {s.dim}});
    out.push_back({"lm_head.weight", {config.vocab_size, s.dim}});
    return out;
  }
  const auto &e = config.local_encoder, &g = config.global, &d = config.local_decoder;
  const int64_t k = config.cross_attn_k;
  out.push_back({"local_encoder.embed_tokens.weight", {config.vocab_size, e.dim}});
  add_stack(out, "local_encoder.", e);
  out.push_back({"local_encoder.patch_embedding_projection.weight", {e.dim * k, e.dim}});
  add_cross_attention(out, "local_encoder.", e, config.cross_attn_all_encoder_layers ? e.layers : 1);
  if (config.hash.tables() > 0)
    out.push_back({"encoder_hash_tok_embedding.weight", {config.hash.tables() * config.hash.vocab, e.dim}});
  if (e.dim * k != g.dim) out.push_back({"global_transformer.token_embedding_projection.weight", {g.dim, e.dim * k}});
  add_stack(out, "global_transformer.", g);
  add_stack(out, "local_decoder.", d);
  out.push_back({"local_decoder.patch_embedding_projection.weight", {d.dim * k, g.dim}});
  out.push_back({"local_decoder.norm.weight", {d.dim}});
  add_cross_attention(out, "local_decoder.", d, config.cross_attn_all_decoder_layers ? d.layers : 1);
  out.push_back({"lm_head.weight", {config.vocab_size, d.dim}});
  return out;
}

std::string hf_name_of_blt(const std::string& name) { return name == "lm_head.weight" ? name : "model." + name; }

std::string hf_name_of_entropy(const std::string& name) { return "model.patcher." + name; }

std::string shape_text(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace blt::model
