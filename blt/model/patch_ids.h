// From patch lengths [B, P] (summing to L, zero-padded on the right) to the patch
// of every byte, for the encoder (its own patch) and the decoder (the last patch
// known to end at or before the byte).
//
// Convention shared with the Hugging Face port: a zero-length patch right after
// the real ones means "a new patch starts right after the sequence", i.e. the
// last real patch is known to end at position L-1. Patchers emit it when their
// rule puts a boundary at L (decided from bytes <= L-1, so it is causal).
#pragma once
#include <torch/torch.h>

namespace blt::model {

// Patch index of every position 0..length-1: [B, length] int64.
torch::Tensor patch_ids_from_lengths(const torch::Tensor& patch_lengths, int64_t length);

// Decoder assignment: with lengths [1, l1, l2, ...], positions 0..l1-1 read patch 0,
// l1..l1+l2-1 read patch 1, and so on (the HF formula: count the starts of the
// lengths without their first entry). Position L-1 reads the last real patch
// only when a trailing zero-length patch marks its end; further padding patches
// are never read.
torch::Tensor decoder_patch_ids_from_lengths(const torch::Tensor& patch_lengths, int64_t length);

// Throws blt::Error unless lengths are int64 [B, P], non-negative, zero only at the
// end of a row, and every row sums to `length`. The values are checked where they are on
// the CPU (lengths a caller made by hand); lengths on a GPU come from the Patcher, valid by
// construction, and reading them back would make the host wait for the GPU every forward.
void check_patch_lengths(const torch::Tensor& patch_lengths, int64_t batch, int64_t length);

}  // namespace blt::model
