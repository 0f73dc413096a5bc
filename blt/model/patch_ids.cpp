#include "blt/model/patch_ids.h"

#include "blt/core/error.h"

namespace blt::model {

torch::Tensor patch_ids_from_lengths(const torch::Tensor& patch_lengths, int64_t length) {
  // Position i lies in patch (number of patch ends <= i); ends are cumulative sums.
  auto ends = patch_lengths.cumsum(1);
  auto positions = torch::arange(length, patch_lengths.options()).unsqueeze(0).expand({patch_lengths.size(0), length});
  return torch::searchsorted(ends.contiguous(), positions.contiguous(), /*out_int32=*/false, /*right=*/true);
}

torch::Tensor decoder_patch_ids_from_lengths(const torch::Tensor& patch_lengths, int64_t length) {
  using torch::indexing::Slice;
  const int64_t B = patch_lengths.size(0);
  auto rest = patch_lengths.index({Slice(), Slice(1)});
  auto starts = rest.cumsum(1) - rest;  // exclusive prefix sums
  auto positions = torch::arange(length, patch_lengths.options()).unsqueeze(0).expand({B, length});
  auto ids = torch::searchsorted(starts.contiguous(), positions.contiguous(), /*out_int32=*/false, /*right=*/true) - 1;
  // The first zero-length patch is the end marker; padding after it is never read.
  auto real = patch_lengths.gt(0).sum(1, /*keepdim=*/true);
  return torch::minimum(ids, real - 1);
}

void check_patch_lengths(const torch::Tensor& patch_lengths, int64_t batch, int64_t length) {
  if (patch_lengths.dim() != 2 || patch_lengths.size(0) != batch)
    fail("patch_lengths must be [batch={}, patches], got {}", batch, patch_lengths.sizes());
  if (patch_lengths.scalar_type() != torch::kLong) fail("patch_lengths must be int64");
  if (!patch_lengths.device().is_cpu()) return;
  auto cpu = patch_lengths.contiguous();
  const auto* data = cpu.data_ptr<int64_t>();
  const int64_t P = cpu.size(1);
  for (int64_t b = 0; b < batch; ++b) {
    int64_t sum = 0;
    bool seen_zero = false;
    for (int64_t p = 0; p < P; ++p) {
      const int64_t v = data[b * P + p];
      if (v < 0) fail("patch_lengths[{}][{}] = {} is negative", b, p, v);
      if (v == 0) seen_zero = true;
      else if (seen_zero) fail("patch_lengths[{}][{}] = {} follows a zero: padding must be at the end", b, p, v);
      sum += v;
    }
    if (sum != length) fail("patch_lengths[{}] sums to {}, the sequence has {} positions", b, sum, length);
  }
}

}  // namespace blt::model
