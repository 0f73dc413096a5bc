// Data-parallel gradient averaging ("ddp"): every rank holds the whole model and the
// gradients are summed across ranks in flat buckets of ~32 MB, one collective each. The loss
// is already divided by the global number of targets, so the sum is the exact global gradient.
//
// Overlap: in the backward pass that completes a step's gradients (reduce_in_next_backward;
// with gradient accumulation, the last micro-batch's), a bucket's all-reduce starts as soon as
// autograd has accumulated the last gradient in it, while backward goes on with the layers
// before. Buckets hold parameters in reverse module order, roughly the order backward finishes
// them, and start strictly in bucket order, so every rank issues the same collectives in the
// same order. A started bucket's parameters take views of its flat buffer as gradients: the
// summed gradient needs no copy back.
//
// Reduce dtype: given bfloat16 (dist.reduce_dtype), a bucket is summed in bf16, half the bytes
// on the wire and in memory; its members' gradients are then bf16 views of it (of float32
// parameters), which the gradient norm and AdamW read as they are.
//
// Row-sparse gradients (the hash tables under train.optimizer.sparse_hash_rows) stay out of the
// buckets and are exchanged as the rows each rank looked up (all-gathers of counts, indices and
// rows), not as dense tables: a few hundred MB instead of 12 GB for blt-1b.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "blt/parallel/comm.h"

namespace torch::autograd {
struct Node;
}

namespace blt::parallel {

class GradSync {
 public:
  struct Param {
    std::string name;
    torch::Tensor value;  // a leaf that requires a gradient
    bool row_sparse;      // its gradient comes row-sparse
  };
  // `reduce_dtype`: the dtype dense gradients are summed in (nullopt: each parameter's own).
  GradSync(std::vector<Param> params, Comm& comm, std::optional<c10::ScalarType> reduce_dtype = std::nullopt,
           int64_t bucket_bytes = 32 << 20);
  ~GradSync();
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  // The next backward pass completes the gradients: start each bucket's all-reduce inside it.
  void reduce_in_next_backward();
  // Sums every parameter's .grad() over the ranks (missing gradients count as zero): starts the
  // buckets backward did not, exchanges the sparse rows, waits. A sparse gradient becomes the
  // sparse gradient of every rank's rows (repeats summed by whoever reads it).
  void all_reduce_grads();
  // After the update: every gradient released (with the buckets' buffers).
  void clear_grads();

 private:
  struct Bucket {
    std::vector<std::size_t> members;  // indices into params_, one dtype and device
    std::size_t ready = 0;             // members whose gradient this backward accumulated
    torch::Tensor flat;                // while started: the members' gradients, being summed
    c10::intrusive_ptr<compat::CommWork> work;
  };
  struct HookTarget;
  class GradReady;
  // From autograd (its device thread): parameter `param`'s gradient is accumulated.
  void on_grad_ready(std::size_t param);
  void start(Bucket& bucket);
  torch::Tensor gather_rows(const torch::Tensor& grad);

  std::vector<Param> params_;
  std::vector<Bucket> buckets_;
  std::vector<std::size_t> bucket_of_;  // per parameter; kNone for row-sparse ones
  std::vector<bool> ready_;             // per parameter, this backward
  std::size_t next_start_ = 0;          // the first bucket not started
  bool armed_ = false;
  Comm& comm_;
  std::optional<c10::ScalarType> reduce_dtype_;
  std::shared_ptr<HookTarget> target_;  // what the hooks call; cleared when this object goes
  std::vector<std::pair<std::shared_ptr<torch::autograd::Node>, uintptr_t>> hooks_;  // accumulators kept alive, hook keys
};

}  // namespace blt::parallel
