#include "blt/model/attention_masks.h"

#include <fmt/ranges.h>  // shapes in messages

#include <limits>
#include <vector>

#include "blt/core/error.h"
#include "blt/core/torch_compat.h"
#include "blt/model/span_attention.h"

namespace blt::model {

using torch::indexing::Slice;

torch::Tensor document_ids_from_tokens(const torch::Tensor& tokens, int64_t eos_id) {
  auto is_eos = tokens.eq(eos_id).to(torch::kLong);
  return is_eos.cumsum(1) - is_eos;
}

SequenceSpans document_spans(const torch::Tensor& host_tokens, int64_t eos_id, const torch::Device& device) {
  if (!host_tokens.device().is_cpu() || host_tokens.dim() != 2 || host_tokens.scalar_type() != torch::kLong)
    fail("document spans: tokens must be int64 [batch, length] on the CPU, got {} {} on {}", host_tokens.sizes(),
         c10::toString(host_tokens.scalar_type()), host_tokens.device().str());
  const int64_t B = host_tokens.size(0), L = host_tokens.size(1);
  if (B * L > std::numeric_limits<int32_t>::max()) fail("document spans: {} x {} positions exceed int32 offsets", B, L);
  const auto tokens = host_tokens.contiguous();
  const int64_t* t = tokens.data_ptr<int64_t>();
  std::vector<int32_t> offsets;
  int64_t longest = 0;
  for (int64_t b = 0; b < B; ++b) {
    int64_t start = b * L;
    for (int64_t i = 0; i < L; ++i) {
      const int64_t end = b * L + i + 1;  // a span ends after its EOS, or with the row
      if (t[b * L + i] != eos_id && i + 1 < L) continue;
      offsets.push_back(static_cast<int32_t>(start));
      longest = std::max(longest, end - start);
      start = end;
    }
  }
  offsets.push_back(static_cast<int32_t>(B * L));
  auto host = torch::tensor(offsets, torch::kInt);
  // Not waiting for the device: a host-to-device copy from pageable memory is staged before it returns.
  return {host.to(device, /*non_blocking=*/true), longest};
}

SequenceSpans row_spans(int64_t batch, int64_t length, const torch::Device& device) {
  return {torch::arange(batch + 1, torch::TensorOptions().dtype(torch::kInt).device(device)) * length, length};
}

torch::Tensor dense_attention_mask(int64_t length, const AttentionPattern& pattern, const torch::Device& device) {
  auto pos = torch::arange(length, torch::TensorOptions().dtype(torch::kLong).device(device));
  auto dist = pos.unsqueeze(1) - pos.unsqueeze(0);  // i - j
  auto allowed = dist.ge(0);
  if (pattern.window > 0) allowed = allowed.logical_and(dist.lt(pattern.window));
  allowed = allowed.view({1, 1, length, length});
  if (pattern.document_ids.defined()) {
    const auto& doc = pattern.document_ids;
    allowed = allowed.logical_and(doc.unsqueeze(2).eq(doc.unsqueeze(1)).unsqueeze(1));
  }
  return allowed;
}

torch::Tensor repeat_kv_heads(const torch::Tensor& kv, int64_t heads) {
  const int64_t kv_heads = kv.size(1);
  if (kv_heads == heads) return kv;
  const int64_t rep = heads / kv_heads;
  return kv.unsqueeze(2).expand({kv.size(0), kv_heads, rep, kv.size(2), kv.size(3)})
      .reshape({kv.size(0), heads, kv.size(2), kv.size(3)});
}

torch::Tensor pattern_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const AttentionPattern& pattern, double scale, int64_t block) {
  const int64_t B = q.size(0), H = q.size(1), L = q.size(2), D = q.size(3);
  const bool windowed = pattern.window > 0 && pattern.window < L;
  if (!windowed && !pattern.document_ids.defined())
    return compat::attention(q, k, v, c10::nullopt, /*causal=*/true, scale);
  if (span_attention_applies(q, pattern)) return span_attention(q, k, v, pattern.spans, pattern.window, scale);
  if (pattern.dense_reference || L <= block || !windowed) {
    // Short sequences (one block) and unlimited windows with documents use one
    // masked call; the latter is O(L^2) and only meant for short contexts.
    auto mask = dense_attention_mask(L, pattern, q.device());
    return compat::attention(q, k, v, mask, /*causal=*/false, scale);
  }
  const int64_t W = pattern.window;
  const int64_t nb = (L + block - 1) / block, Lp = nb * block;
  // Keys per block: the block and the W-1 positions before it, rounded up to a
  // multiple of 16 (the alignment the fused GPU kernels want for masks).
  const int64_t span = (block + W - 1 + 15) / 16 * 16, left = span - block;
  // Queries padded on the right to whole blocks; keys padded on the left so that
  // block n's keys are the contiguous range [n*block - left, (n+1)*block).
  auto qb = torch::constant_pad_nd(q, {0, 0, 0, Lp - L}).view({B, H, nb, block, D});
  auto windows = [&](const torch::Tensor& t) {
    auto padded = torch::constant_pad_nd(t, {0, 0, left, Lp - L});   // [B, H, left+Lp, D]
    return padded.unfold(2, span, block).transpose(-1, -2);          // [B, H, nb, span, D]
  };
  auto kb = windows(k), vb = windows(v);
  auto lopts = torch::TensorOptions().dtype(torch::kLong).device(q.device());
  auto qpos = torch::arange(Lp, lopts).view({nb, block, 1});
  auto kpos = (torch::arange(nb, lopts) * block).view({nb, 1, 1}) + torch::arange(span, lopts).view({1, 1, span}) - left;
  auto dist = qpos - kpos;
  auto allowed = dist.ge(0).logical_and(dist.lt(W)).logical_and(kpos.ge(0)).logical_and(kpos.lt(L));
  allowed = allowed.unsqueeze(0);  // [1, nb, block, span]
  if (pattern.document_ids.defined()) {
    auto doc = pattern.document_ids;
    auto doc_q = torch::constant_pad_nd(doc, {0, Lp - L}, -1).view({B, nb, block, 1});
    auto doc_k = torch::constant_pad_nd(doc, {left, Lp - L}, -1).unfold(1, span, block).view({B, nb, 1, span});
    allowed = allowed.logical_and(doc_q.eq(doc_k));
  }
  // Padding queries see their whole span: a row with no allowed key would give
  // NaN in SDPA's backward even though the row itself is dropped.
  allowed = allowed.logical_or(qpos.ge(L).unsqueeze(0));
  allowed = allowed.expand({B, nb, block, span}).reshape({B * nb, 1, block, span});
  auto flat = [&](const torch::Tensor& t, int64_t rows) {
    return t.permute({0, 2, 1, 3, 4}).reshape({B * nb, H, rows, D});
  };
  auto out = compat::attention(flat(qb, block), flat(kb, span), flat(vb, span), allowed, /*causal=*/false, scale);
  out = out.view({B, nb, H, block, D}).permute({0, 2, 1, 3, 4}).reshape({B, H, Lp, D});
  return out.index({Slice(), Slice(), Slice(0, L)});
}

}  // namespace blt::model
