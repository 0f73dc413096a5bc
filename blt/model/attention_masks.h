// Which keys a query may see in byte-level (local) and patch-level (global)
// self-attention, and the attention kernels that respect it without building
// an L x L mask for long sequences.
#pragma once
#include <torch/torch.h>

namespace blt::model {

// The sequences attention must not cross, as spans of the flattened [B * L]
// positions: every row starts a span and, with documents, every EOS ends one (the
// EOS belongs to the document it ends), so the spans agree with
// document_ids_from_tokens. What flash attention over packed sequences takes.
struct SequenceSpans {
  torch::Tensor offsets;  // int32 [n + 1] on the model's device: span i is [offsets[i], offsets[i + 1])
  int64_t longest = 0;    // length of the longest span
  bool defined() const { return offsets.defined(); }
};

// Spans of the documents in `host_tokens` ([B, L] int64 on the CPU: the loader's
// batch, so that no step reads the device's tokens back), moved to `device`.
SequenceSpans document_spans(const torch::Tensor& host_tokens, int64_t eos_id, const torch::Device& device);

// One span per row (no documents), built on `device` without the host.
SequenceSpans row_spans(int64_t batch, int64_t length, const torch::Device& device);

// Causal attention, optionally limited to the last `window` positions
// (query i sees key j iff 0 <= i - j < window) and to the query's document.
struct AttentionPattern {
  int64_t window = 0;            // 0 = unlimited
  torch::Tensor document_ids;    // int64 [B, L] or undefined (no document blocking)
  // The same sequences as spans (optional): where given, CUDA runs flash attention
  // over them (model/span_attention.h) instead of the blockwise masked path.
  SequenceSpans spans;
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
// causal attention without documents goes straight to (flash) SDPA; with spans, on
// a GPU that has the kernel, windows and documents go to flash attention over the
// spans; otherwise they are handled block by block: the queries of a block of `block`
// positions see only the block and the window before it, so memory grows as
// L * (block + window), not L^2.
torch::Tensor pattern_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const AttentionPattern& pattern, double scale, int64_t block = 256);

}  // namespace blt::model
