// Data-parallel gradient averaging ("ddp"): every rank holds the whole model;
// after backward the gradients are summed across ranks in flat buckets (one
// collective per bucket, all in flight at once). The loss is already divided by
// the global number of targets, so the sum is the exact global gradient.
// Row-sparse gradients (the hash tables under train.optimizer.sparse_hash_rows)
// are exchanged as the rows each rank looked up (all-gathers of counts, indices
// and rows), not as dense tables: a few hundred MB instead of 12 GB for blt-1b.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "blt/dist/comm.h"

namespace blt::dist {

class GradSync {
 public:
  GradSync(std::vector<torch::Tensor> params, Comm& comm, int64_t bucket_bytes = 32 << 20);
  // Sums every parameter's .grad() over the ranks (missing gradients count as zero); a sparse
  // gradient becomes the sparse gradient of every rank's rows (summed when coalesced).
  void all_reduce_grads();

 private:
  torch::Tensor gather_rows(const torch::Tensor& grad);

  std::vector<torch::Tensor> params_;
  std::vector<std::vector<std::size_t>> buckets_;  // indices into params_, same dtype and device per bucket
  Comm& comm_;
};

}  // namespace blt::dist
