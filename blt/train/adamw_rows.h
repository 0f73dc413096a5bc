// Lazy AdamW made exact, for tables whose gradients come row-sparse (the hash n-gram tables under
// train.optimizer.sparse_hash_rows). A step updates only the rows its gradient holds, but dense
// AdamW moves every row at every step: with a zero gradient a row's moments decay (m *= beta1,
// v *= beta2) and its value takes weight decay and the step m_hat / (sqrt(v_hat) + eps). Skipping
// that cost +0.10 bits/byte on a 300-step run (docs/perf.md). So LazyRows keeps, per table row,
// the last step applied to it and, per step, that step's scalars (on the device: nothing waits
// for it), and runs the steps a row missed just before anything reads or changes it: the forward
// pass that looks it up (training or evaluation), the update that next holds it, and saving or
// reading the whole table (catch_up_all).
// Every row then holds what dense AdamW would have given it (the same arithmetic with a zero
// gradient, step by step), at the cost of the rows a step uses, plus the missed steps' arithmetic
// (no memory traffic beyond the row itself).
#pragma once
#include <cstdint>
#include <map>

#include <torch/torch.h>

#include "blt/kernels/adamw_step.h"

namespace blt::train {

// The scalars of every step since the lazy rows began, float64 [capacity, 4] on the device:
// 1 - lr * weight_decay, lr / (1 - beta1^s), sqrt(1 - beta2^s), applied (0 where the step was
// skipped on the device: a non-finite gradient norm or loss).
class StepHistory {
 public:
  // Step `step`'s row; `skip` (bool scalar on the device, or undefined) is copied on the device.
  void record(int64_t step, const kernels::AdamWStepScalars& scalars, const torch::Tensor& skip,
              const torch::Device& device);
  const torch::Tensor& table() const { return table_; }

 private:
  torch::Tensor table_;
};

// One table's lazy rows: the step through which each row is current (int32 [rows]).
struct LazyTable {
  torch::Tensor value, exp_avg, exp_avg_sq;  // the table and its moments (AdamW's own tensors)
  torch::Tensor last;                        // int32 [rows]
  bool decays;                               // weight decay applies to the table
};

// Runs the applied steps in (last[r], through] of every row r in `rows` (any shape, int64,
// repeats allowed) with a zero gradient and sets last[r] = through. blt's CUDA kernel where it
// applies and `fused`; elsewhere a loop of tensor operations with reference_update's arithmetic.
void run_missed_steps(LazyTable& table, const torch::Tensor& rows, int64_t through, const StepHistory& history,
                      const kernels::AdamWHyper& hyper, bool fused);

// The squared L2 norm of a row-sparse gradient (sparse COO over rows, repeats summed first), a
// float64 scalar on its device: blt's kernel for float32 on CUDA, which sorts instead of
// coalescing and so never waits for the device; coalesce() elsewhere.
torch::Tensor row_sparse_squared_norm(const torch::Tensor& grad);

}  // namespace blt::train
