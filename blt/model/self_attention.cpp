#include "blt/model/self_attention.h"

#include <cmath>

#include "blt/core/torch_compat.h"

namespace blt::model {

namespace {
}  // namespace

SelfAttentionImpl::SelfAttentionImpl(int64_t dim, int64_t heads_, int64_t kv_heads_)
    : heads(heads_), kv_heads(kv_heads_), head_dim(dim / heads_) {
  q_proj = register_module("q_proj", Linear(dim, heads * head_dim));
  k_proj = register_module("k_proj", Linear(dim, kv_heads * head_dim));
  v_proj = register_module("v_proj", Linear(dim, kv_heads * head_dim));
  o_proj = register_module("o_proj", Linear(heads * head_dim, dim));
}

torch::Tensor SelfAttentionImpl::forward(const torch::Tensor& x, const RopeTable& rope, const AttentionPattern& pattern) {
  const int64_t B = x.size(0), L = x.size(1);
  auto q = rope_heads(q_proj(x).view({B, L, heads, head_dim}), rope);
  auto k = rope_heads(k_proj(x).view({B, L, kv_heads, head_dim}), rope);
  auto v = v_proj(x).view({B, L, kv_heads, head_dim}).transpose(1, 2);
  auto out = pattern_attention(q, repeat_kv_heads(k, heads), repeat_kv_heads(v, heads), pattern,
                               1.0 / std::sqrt(static_cast<double>(head_dim)));
  return o_proj(out.transpose(1, 2).reshape({B, L, heads * head_dim}));
}

torch::Tensor SelfAttentionImpl::step(const torch::Tensor& x, const RopeTable& rope, LayerKVCache& cache,
                                      const torch::Tensor& allowed) {
  const int64_t B = x.size(0);
  auto q = rope_heads(q_proj(x).view({B, 1, heads, head_dim}), rope);
  auto k = rope_heads(k_proj(x).view({B, 1, kv_heads, head_dim}), rope);
  auto v = v_proj(x).view({B, 1, kv_heads, head_dim}).transpose(1, 2);
  cache.keys = cache.keys.defined() ? torch::cat({cache.keys, k}, 2) : k;
  cache.values = cache.values.defined() ? torch::cat({cache.values, v}, 2) : v;
  auto mask = allowed.view({B, 1, 1, allowed.size(1)});
  auto out = compat::attention(q, repeat_kv_heads(cache.keys, heads), repeat_kv_heads(cache.values, heads), mask,
                               /*causal=*/false, 1.0 / std::sqrt(static_cast<double>(head_dim)));
  return o_proj(out.transpose(1, 2).reshape({B, 1, heads * head_dim}));
}

}  // namespace blt::model
