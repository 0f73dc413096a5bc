// Data-parallel gradient averaging ("ddp"): every rank holds the whole model;
// after backward the gradients are summed across ranks in flat buckets (one
// collective per bucket, all in flight at once). The loss is already divided by
// the global number of targets, so the sum is the exact global gradient.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "blt/dist/comm.h"

namespace blt::dist {

class GradSync {
 public:
  GradSync(std::vector<torch::Tensor> params, Comm& comm, int64_t bucket_bytes = 32 << 20);
  // Sums every parameter's .grad() over the ranks (missing gradients count as zero).
  void all_reduce_grads();

 private:
  std::vector<torch::Tensor> params_;
  std::vector<std::vector<std::size_t>> buckets_;  // indices into params_, same dtype and device per bucket
  Comm& comm_;
};

}  // namespace blt::dist
