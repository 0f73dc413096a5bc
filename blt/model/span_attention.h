// Windowed causal attention over packed sequences (rows, documents) through
// LibTorch's FlashAttention-2 kernels, which take the window and the sequence
// offsets themselves: no mask, no padded key blocks, no copies of overlapping
// windows (the blockwise path of attention_masks.cpp computes 1.5x the scores a
// window needs and copies every key and value ~3x). CUDA, bf16/fp16, LibTorch
// >= 2.6 only; everything else takes pattern_attention's other paths, which the
// tests compare this one against.
#pragma once
#include <torch/torch.h>

#include "blt/model/attention_masks.h"

namespace blt::model {

// Whether pattern_attention can take this path for `q` under `pattern` (spans given,
// not the dense reference, a GPU and dtype the kernel takes).
bool span_attention_applies(const torch::Tensor& q, const AttentionPattern& pattern);

// softmax(q k^T * scale) v for q, k, v [B, H, L, D] (equal head counts), causal within
// each span of `spans` (which must describe these B x L positions) and limited to the
// last `window` positions (0 = unlimited). Returns [B, H, L, D].
torch::Tensor span_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const SequenceSpans& spans, int64_t window, double scale);

}  // namespace blt::model
