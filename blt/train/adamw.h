// AdamW with decoupled weight decay, over a named list of master tensors.
//
// Our own rather than torch::optim::AdamW: the same arithmetic must run on
// whole parameters (one process, ddp) and on flat shards of them (zero2, fsdp),
// and its state must save under stable names to safetensors checkpoints.
//
// Two paths, one arithmetic: on CUDA one kernel pass that reads every value,
// gradient and moment once (blt's kernel for float32, kernels/adamw_step.h;
// LibTorch's multi-tensor at::_fused_adamw_ otherwise, compat::fused_adamw);
// elsewhere (CPU, LibTorch 1.13) the reference loop of tensor ops below. The master dtype is the parameters'
// own (fp32, or fp64 for a double model); moments take it too, unless a parameter asks otherwise.
//
// A sparse gradient (the hash n-gram tables under train.optimizer.sparse_hash_rows)
// updates only the rows it holds, with the same arithmetic (on CUDA in place by blt's row
// kernel, which sorts the rows instead of coalescing them and so never waits for the device;
// elsewhere on coalesced copies of the rows); the steps other rows missed run when they are
// next read (adamw_rows.h), so the result is dense AdamW's.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "blt/model/linear.h"
#include "blt/train/adamw_rows.h"
#include "blt/train/train_config.h"

namespace blt::train {

class AdamW {
 public:
  struct Param {
    std::string name;
    torch::Tensor value;  // floating point master weights, updated in place
    bool decay;           // weight decay applies (matrices, embeddings) or not (norm scales)
    // The moments' dtype, when not the value's: bfloat16 for a table that only row-sparse
    // gradients update (train.optimizer.table_moments); the arithmetic stays in the value's.
    c10::optional<torch::ScalarType> moments = c10::nullopt;
    // The value's compute copy (model/linear.h), which every update leaves current: blt's kernel
    // writes it in its pass, the other paths cast it after theirs.
    std::shared_ptr<model::ComputeCopy> compute_copy = nullptr;
  };

  AdamW(std::vector<Param> params, const OptimizerConfig& config);

  // One update at learning rate `lr` from each parameter's .grad(); parameters
  // without a gradient are skipped.
  void step(double lr);
  // The same update with the gradients given (dense, or sparse COO over rows): grads[i] belongs to params()[i]
  // (sharded strategies keep gradients of flat shards outside autograd), each
  // multiplied by `clip` (a scalar tensor on the parameters' device, e.g. the
  // clip factor; undefined = 1). Where `skip` (a bool scalar on that device) is
  // true, values and moments stay as they are. The fused path reads neither on
  // the host; the reference path reads `skip` (free on the CPU it is for).
  // steps() counts calls, skipped or not. With `clip`, LibTorch's fused kernel
  // leaves the clipped gradients in `grads` (it writes them back); callers must
  // not rely on either.
  void step(double lr, const std::vector<torch::Tensor>& grads, const torch::Tensor& clip = {},
            const torch::Tensor& skip = {});
  // Forces the reference path (tests compare it with the fused one).
  void set_fused(bool fused) { fused_ = fused; }
  bool fused() const { return fused_; }
  int64_t steps() const { return steps_; }
  // When restoring state saved piecewise (after catch_up_all: every row current).
  void set_steps(int64_t steps);
  const std::vector<Param>& params() const { return params_; }

  // Parameters whose gradients came row-sparse are lazy (adamw_rows.h): their rows are
  // current only where used. catch_up_rows brings the rows (int64, any shape) of parameter
  // `param` to the current step, before a forward pass reads them (a no-op for a parameter
  // that never had a sparse gradient); catch_up_all brings every row, before the values are
  // saved or read whole. state() and params() hold dense AdamW's values only after catch_up_all.
  void catch_up_rows(std::size_t param, const torch::Tensor& rows);
  void catch_up_all();

  // State tensors under "exp_avg.NAME", "exp_avg_sq.NAME" and "step".
  std::map<std::string, torch::Tensor> state() const;
  // Restores state(); a missing tensor or a shape mismatch is an error naming it.
  void load_state(const std::map<std::string, torch::Tensor>& state, const std::string& source);

 private:
  // What one update reads and writes: a parameter's values, gradient and moments, whole, or
  // copies of the rows a sparse gradient holds.
  struct Slot {
    torch::Tensor value, grad, exp_avg, exp_avg_sq;
    bool decay;
    model::ComputeCopy* copy = nullptr;  // whole values only
  };
  void reference_update(std::vector<Slot>& slots, double lr, const torch::Tensor& clip);
  void fused_update(std::vector<Slot>& slots, double lr, const torch::Tensor& clip, const torch::Tensor& skip);
  kernels::AdamWHyper hyper(double lr, bool decays) const;
  void catch_up_rows_through(std::size_t param, const torch::Tensor& rows, int64_t through);

  std::vector<Param> params_;
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;
  OptimizerConfig config_;
  int64_t steps_ = 0;
  bool fused_;
  std::map<std::size_t, LazyTable> lazy_;  // by parameter index, from its first sparse gradient
  StepHistory history_;                    // written while lazy_ is not empty
};

}  // namespace blt::train
