// Which keys a query may see in byte-level (local) and patch-level (global)
// self-attention, and the attention kernels that respect it without building
// an L x L mask for long sequences.
#pragma once
#include <torch/torch.h>

namespace blt::model {

// Causal attention, optionally limited to the last `window` positions
// (query i sees key j iff 0 <= i - j < window) and to the query's document.
struct AttentionPattern {
  int64_t window = 0;            // 0 = unlimited
  torch::Tensor document_ids;    // int64 [B, L] or undefined (no document blocking)
  bool dense_reference = false;  // build the full mask (tests compare the fast path to this)
};

// Document index of every position: a document ends with its EOS, so position i
// belongs to document (number of EOS ids at positions < i). [B, L] int64.
torch::Tensor document_ids_from_tokens(const torch::Tensor& tokens, int64_t eos_id);

// Boolean [B, 1, L, L] (true = may attend) for the pattern; O(L^2) memory.
torch::Tensor dense_attention_mask(int64_t length, const AttentionPattern& pattern, const torch::Device& device);

// Repeats each of the [B, Hkv, L, D] key/value heads so that query head h uses kv head h / (H / Hkv).
torch::Tensor repeat_kv_heads(const torch::Tensor& kv, int64_t heads);

// softmax(q k^T * scale) v for q, k, v [B, H, L, D] under `pattern`. Unlimited
// causal attention without documents goes straight to (flash) SDPA; windows and
// documents are handled block by block: the queries of a block of `block`
// positions see only the block and the window before it, so memory grows as
// L * (block + window), not L^2.
torch::Tensor pattern_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const AttentionPattern& pattern, double scale, int64_t block = 256);

}  // namespace blt::model
