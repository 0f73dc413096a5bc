// Cross-attention between bytes and patches (spec section 3). The query input
// and the key/value input each get their own RMSNorm (q_norm, k_norm); no RoPE,
// no biases. As in the released model (reference and Hugging Face port), the
// block returns `query_input + o_proj(attention)` and its callers add that to
// their residual stream once more.
//
// Both directions use the patch structure instead of a dense [bytes x patches] mask:
// - pool_bytes: the k query vectors of patch p attend only to the bytes of p
//   (a segment softmax over each patch's bytes; O(L * k * dim) memory);
// - read_patches: byte i attends only to the k vectors of its patch (a gather
//   of k keys per byte; O(L * k * dim) memory), or, where the fused kernels run,
//   kernels::patch_attention, which reads each patch's vectors in place.
// `dense` computes the same thing with an explicit mask, for tests.
#pragma once
#include <torch/torch.h>

#include <utility>

#include "blt/model/linear.h"
#include "blt/model/rms_norm.h"

namespace blt::model {

class CrossAttentionImpl : public torch::nn::Module {
 public:
  CrossAttentionImpl(int64_t dim, int64_t heads, int64_t kv_heads, double norm_eps);

  // patch_queries [B, P*k, dim] (the k vectors of patch p are rows p*k .. p*k+k-1),
  // bytes [B, L, dim], patch_ids int64 [B, L] (patch of every byte).
  torch::Tensor pool_bytes(const torch::Tensor& patch_queries, const torch::Tensor& bytes,
                           const torch::Tensor& patch_ids, int64_t k);
  // byte_queries [B, L, dim], patch_kv [B, P*k, dim], patch_ids int64 [B, L]
  // (the patch whose k vectors each byte reads).
  torch::Tensor read_patches(const torch::Tensor& byte_queries, const torch::Tensor& patch_kv,
                             const torch::Tensor& patch_ids, int64_t k);
  // read_patches in two parts, so that incremental decoding projects each
  // patch's keys and values once: patch_kv [B, P*k, dim] -> keys and values
  // [B, P, k, heads, head_dim]; then byte_queries [B, L, dim] attend to the k
  // keys/values each byte reads ([B, L, k, heads, head_dim]).
  std::pair<torch::Tensor, torch::Tensor> patch_keys_values(const torch::Tensor& patch_kv, int64_t k);
  torch::Tensor attend_patch(const torch::Tensor& byte_queries, const torch::Tensor& keys, const torch::Tensor& values);
  // Reference: queries [B, Lq, dim], kv [B, Lk, dim], mask bool [B, Lq, Lk] (true = attend).
  torch::Tensor dense(const torch::Tensor& queries, const torch::Tensor& kv, const torch::Tensor& mask);

  RMSNorm q_norm{nullptr}, k_norm{nullptr};
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  int64_t heads, kv_heads, head_dim;

 private:
  // byte_queries [B, L, dim] plus o_proj of their projected queries q [B, L, 1, heads, head_dim]
  // attending to the k keys and values each byte reads ([B, L, k, heads, head_dim]).
  torch::Tensor attend(const torch::Tensor& byte_queries, const torch::Tensor& q, const torch::Tensor& keys,
                       const torch::Tensor& values);
  // [B, N, dim] -> [B, N, heads, head_dim] with key/value heads repeated for GQA.
  torch::Tensor project_kv(Linear& proj, const torch::Tensor& x);
  double scale() const;
};
TORCH_MODULE(CrossAttention);

// Dense masks equal to the structured paths (for tests and as documentation):
// [B, P*k, L] for pool_bytes and [B, L, P*k] for read_patches.
torch::Tensor pool_bytes_mask(const torch::Tensor& patch_ids, int64_t patches, int64_t k);
torch::Tensor read_patches_mask(const torch::Tensor& patch_ids, int64_t patches, int64_t k);

}  // namespace blt::model
