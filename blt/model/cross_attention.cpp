#include "blt/model/cross_attention.h"

#include <cmath>

#include "blt/core/torch_compat.h"
#include "blt/kernels/fused_ops.h"

namespace blt::model {

namespace {
// Softmax accumulates in float32 for half types, like the attention kernels.
torch::ScalarType accumulate_type(const torch::Tensor& t) {
  return t.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
}
}  // namespace

CrossAttentionImpl::CrossAttentionImpl(int64_t dim, int64_t heads_, int64_t kv_heads_, double norm_eps)
    : heads(heads_), kv_heads(kv_heads_), head_dim(dim / heads_) {
  q_proj = register_module("q_proj", Linear(dim, heads * head_dim));
  k_proj = register_module("k_proj", Linear(dim, kv_heads * head_dim));
  v_proj = register_module("v_proj", Linear(dim, kv_heads * head_dim));
  o_proj = register_module("o_proj", Linear(heads * head_dim, dim));
  q_norm = register_module("q_norm", RMSNorm(dim, norm_eps));
  k_norm = register_module("k_norm", RMSNorm(dim, norm_eps));
}

double CrossAttentionImpl::scale() const { return 1.0 / std::sqrt(static_cast<double>(head_dim)); }

torch::Tensor CrossAttentionImpl::project_kv(Linear& proj, const torch::Tensor& x) {
  auto t = proj->forward(x).view({x.size(0), x.size(1), kv_heads, head_dim});
  if (kv_heads == heads) return t;
  const int64_t rep = heads / kv_heads;
  return t.unsqueeze(3).expand({x.size(0), x.size(1), kv_heads, rep, head_dim}).reshape({x.size(0), x.size(1), heads, head_dim});
}

torch::Tensor CrossAttentionImpl::pool_bytes(const torch::Tensor& patch_queries, const torch::Tensor& bytes,
                                             const torch::Tensor& patch_ids, int64_t k) {
  const int64_t B = bytes.size(0), L = bytes.size(1), P = patch_queries.size(1) / k;
  auto q = q_proj(q_norm(patch_queries)).view({B, P, k, heads, head_dim});
  auto kv_in = k_norm(bytes);
  auto keys = project_kv(k_proj, kv_in);    // [B, L, H, D]
  auto values = project_kv(v_proj, kv_in);  // [B, L, H, D]
  // Every byte fetches the queries of its own patch, so scores exist only for
  // (patch, own byte) pairs.
  auto q_of_byte = q.gather(1, patch_ids.view({B, L, 1, 1, 1}).expand({B, L, k, heads, head_dim}));
  auto scores = (q_of_byte * keys.unsqueeze(2)).sum(-1, /*keepdim=*/false, accumulate_type(q)) * scale();  // [B, L, k, H]
  auto seg = patch_ids.view({B, L, 1, 1}).expand({B, L, k, heads});
  torch::Tensor seg_max;
  {
    // The shift only keeps exp() in range; softmax does not depend on it, so no gradient is needed.
    torch::NoGradGuard no_grad;
    seg_max = torch::full({B, P, k, heads}, -std::numeric_limits<double>::infinity(), scores.options())
                  .scatter_reduce(1, seg, scores, "amax", /*include_self=*/true);
  }
  auto e = torch::exp(scores - seg_max.gather(1, seg));
  auto denom = torch::zeros({B, P, k, heads}, e.options()).scatter_add(1, seg, e);
  auto weights = (e / denom.gather(1, seg)).to(values.scalar_type());  // [B, L, k, H]
  auto contrib = weights.unsqueeze(-1) * values.unsqueeze(2);          // [B, L, k, H, D]
  auto out = torch::zeros({B, P, k, heads, head_dim}, contrib.options())
                 .scatter_add(1, patch_ids.view({B, L, 1, 1, 1}).expand({B, L, k, heads, head_dim}), contrib);
  return patch_queries + o_proj(out.view({B, P * k, heads * head_dim}));
}

torch::Tensor CrossAttentionImpl::read_patches(const torch::Tensor& byte_queries, const torch::Tensor& patch_kv,
                                               const torch::Tensor& patch_ids, int64_t k) {
  const int64_t B = byte_queries.size(0), L = byte_queries.size(1);
  auto [keys, values] = patch_keys_values(patch_kv, k);
  auto q = q_proj(q_norm(byte_queries)).view({B, L, heads, head_dim});
  if (kernels::use_fused(q) && keys.scalar_type() == q.scalar_type() && k <= kernels::kPatchAttentionMaxK) {
    auto out = kernels::patch_attention(q, keys, values, patch_ids, scale());
    return byte_queries + o_proj(out.view({B, L, heads * head_dim}));
  }
  auto index = patch_ids.view({B, L, 1, 1, 1}).expand({B, L, k, heads, head_dim});
  return attend(byte_queries, q.unsqueeze(2), keys.gather(1, index), values.gather(1, index));
}

std::pair<torch::Tensor, torch::Tensor> CrossAttentionImpl::patch_keys_values(const torch::Tensor& patch_kv, int64_t k) {
  const int64_t B = patch_kv.size(0), P = patch_kv.size(1) / k;
  auto kv_in = k_norm(patch_kv);
  return {project_kv(k_proj, kv_in).view({B, P, k, heads, head_dim}),
          project_kv(v_proj, kv_in).view({B, P, k, heads, head_dim})};
}

torch::Tensor CrossAttentionImpl::attend_patch(const torch::Tensor& byte_queries, const torch::Tensor& keys,
                                               const torch::Tensor& values) {
  const int64_t B = byte_queries.size(0), L = byte_queries.size(1);
  return attend(byte_queries, q_proj(q_norm(byte_queries)).view({B, L, 1, heads, head_dim}), keys, values);
}

torch::Tensor CrossAttentionImpl::attend(const torch::Tensor& byte_queries, const torch::Tensor& q,
                                         const torch::Tensor& keys, const torch::Tensor& values) {
  const int64_t B = byte_queries.size(0), L = byte_queries.size(1);
  auto scores = (q * keys).sum(-1, /*keepdim=*/false, accumulate_type(q)) * scale();  // [B, L, k, H]
  auto weights = torch::softmax(scores, 2).to(values.scalar_type());
  auto out = (weights.unsqueeze(-1) * values).sum(2);  // [B, L, H, D]
  return byte_queries + o_proj(out.reshape({B, L, heads * head_dim}));
}

torch::Tensor CrossAttentionImpl::dense(const torch::Tensor& queries, const torch::Tensor& kv, const torch::Tensor& mask) {
  const int64_t B = queries.size(0), Lq = queries.size(1);
  auto q = q_proj(q_norm(queries)).view({B, Lq, heads, head_dim}).transpose(1, 2);
  auto kv_in = k_norm(kv);
  auto keys = project_kv(k_proj, kv_in).transpose(1, 2);
  auto values = project_kv(v_proj, kv_in).transpose(1, 2);
  auto out = compat::attention(q, keys, values, mask.unsqueeze(1), /*causal=*/false, scale());
  return queries + o_proj(out.transpose(1, 2).reshape({B, Lq, heads * head_dim}));
}

torch::Tensor pool_bytes_mask(const torch::Tensor& patch_ids, int64_t patches, int64_t k) {
  auto p = torch::arange(patches, patch_ids.options()).repeat_interleave(k);  // [P*k]
  return p.view({1, -1, 1}).eq(patch_ids.unsqueeze(1));                       // [B, P*k, L]
}

torch::Tensor read_patches_mask(const torch::Tensor& patch_ids, int64_t patches, int64_t k) {
  auto p = torch::arange(patches, patch_ids.options()).repeat_interleave(k);
  return patch_ids.unsqueeze(2).eq(p.view({1, 1, -1}));  // [B, L, P*k]
}

}  // namespace blt::model
