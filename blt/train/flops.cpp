#include "blt/train/flops.h"

#include <algorithm>

namespace blt::train {
namespace {

// Forward FLOPs of y = x W for one row: 2 multiply-adds per weight.
double linear(double in, double out) { return 2.0 * in * out; }

struct Multipliers {
  double matmul;     // 3 for training (forward + 2x backward), 1 for inference
  double attention;  // 3.5 for training (the reference's flash-attention count), 1 for inference
};

// One Llama-style stack over `positions` positions: projections, SwiGLU and self-attention.
double stack_flops(const model::TransformerShape& s, double positions, const Multipliers& m) {
  const double q = double(s.heads * s.head_dim()), kv = double(s.kv_head_count() * s.head_dim());
  const double per_layer = linear(s.dim, q) + 2 * linear(s.dim, kv) + linear(q, s.dim) + 3 * linear(s.dim, s.ffn_dim);
  const double keys = mean_attended_keys(positions, double(s.sliding_window));
  const double attention = 4.0 * q * keys;  // QK^T and AV, per query
  return s.layers * positions * (m.matmul * per_layer + m.attention * attention);
}

// Cross-attention layers: `queries` query rows each attending to `keys_per_query`
// keys, drawn from `kv_rows` key/value rows.
double cross_flops(const model::TransformerShape& s, double layers, double queries, double kv_rows,
                   double keys_per_query, const Multipliers& m) {
  const double q = double(s.heads * s.head_dim()), kv = double(s.kv_head_count() * s.head_dim());
  const double projections = queries * (linear(s.dim, q) + linear(q, s.dim)) + kv_rows * 2 * linear(s.dim, kv);
  return layers * (m.matmul * projections + m.attention * queries * 4.0 * q * keys_per_query);
}

}  // namespace

double mean_attended_keys(double length, double window) {
  if (window <= 0 || window >= length) return length / 2.0;
  return window - window * window / (2.0 * length);
}

double total(const std::vector<FlopComponent>& components) {
  double sum = 0;
  for (const auto& c : components) sum += c.flops;
  return sum;
}

std::vector<FlopComponent> sequence_flops(const model::ModelConfig& c, int64_t positions_i, double patches,
                                          bool training, const model::ModelConfig* entropy_model) {
  const Multipliers m = training ? Multipliers{3.0, 3.5} : Multipliers{1.0, 1.0};
  const double L = double(positions_i);
  std::vector<FlopComponent> out;
  const auto head = [&](int64_t dim) { return FlopComponent{"head", m.matmul * L * linear(dim, c.vocab_size)}; };
  if (c.type != "blt") {
    out.push_back({"transformer", stack_flops(c.transformer, L, m)});
    out.push_back(head(c.transformer.dim));
    return out;
  }
  const auto& enc = c.local_encoder;
  const auto& glob = c.global;
  const auto& dec = c.local_decoder;
  const double k = double(c.cross_attn_k);
  const double P = std::max(1.0, patches);
  if (entropy_model) {
    const auto& e = entropy_model->transformer;
    const Multipliers forward{1.0, 1.0};
    out.push_back({"entropy_model", stack_flops(e, L, forward) + L * linear(e.dim, entropy_model->vocab_size)});
  }
  out.push_back({"local_encoder", stack_flops(enc, L, m)});
  // Pooling: each patch's k queries attend to its bytes (L keys in all per query row set),
  // after projecting the max-pooled patch vector to k * d_l.
  const double enc_cross_layers = c.cross_attn_all_encoder_layers ? double(enc.layers) : 1.0;
  const double pooling = m.matmul * enc_cross_layers * P * linear(enc.dim, k * enc.dim) +
                         cross_flops(enc, enc_cross_layers, k * P, L, L / P, m);
  out.push_back({"encoder_cross_attention", pooling});
  double global = stack_flops(glob, P, m);
  if (k * enc.dim != glob.dim) global += m.matmul * P * linear(k * enc.dim, glob.dim);
  out.push_back({"global", global});
  const double dec_cross_layers = c.cross_attn_all_decoder_layers ? double(dec.layers) : 1.0;
  const double reading = m.matmul * P * linear(glob.dim, k * dec.dim) + cross_flops(dec, dec_cross_layers, L, k * P, k, m);
  out.push_back({"decoder_cross_attention", reading});
  out.push_back({"local_decoder", stack_flops(dec, L, m)});
  out.push_back(head(dec.dim));
  return out;
}

}  // namespace blt::train
