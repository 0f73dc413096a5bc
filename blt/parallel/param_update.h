// How a step turns every rank's gradients into updated parameters, one class
// per dist.strategy, and how parameters and optimizer state go into and come
// out of a checkpoint (parallel/sharded_checkpoint.h):
//   ddp    replicated: gradients all-reduced (parallel/grad_sync), AdamW on whole parameters
//   zero2  gradients reduce-scattered per unit, AdamW on this rank's fp32 chunk of the
//          flat parameter space, updated chunks all-gathered (parallel/sharded_update)
//   fsdp   as zero2, but transformer blocks and embedding tables are whole only while
//          they are used (parallel/sharded_hooks)
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "blt/model/causal_lm.h"
#include "blt/parallel/comm.h"
#include "blt/parallel/dist_config.h"
#include "blt/parallel/sharded_checkpoint.h"
#include "blt/train/adamw.h"
#include "blt/train/train_config.h"

namespace blt::parallel {

class ParamUpdate {
 public:
  virtual ~ParamUpdate() = default;

  // Between steps every strategy holds what a forward pass needs and no hook gathers just in
  // time (fsdp: every unit but the transformer blocks and embedding tables, which gather
  // themselves around their use), so a forward pass, for training or evaluation, needs no call.
  //
  // Runs `use` with every parameter whole and current, as one dense process would hold them
  // (hash-table rows that sparse updates left behind caught up; fsdp's units all gathered),
  // then returns to what the strategy keeps between steps: to save or read the whole model.
  void with_whole_params(const std::function<void()>& use);
  // Before the backward pass that completes this step's gradients (the last micro-batch's):
  // ddp starts summing each bucket of gradients over the ranks inside it (parallel/grad_sync.h).
  // Without the call, everything is summed in step().
  virtual void before_last_backward() {}
  // After backward: sums this step's gradients over the ranks. ddp starts the buckets backward
  // did not and waits for all of them (the device waits, not the host); zero2 and fsdp
  // reduce-scatter the units backward did not. step() does it when nobody did; the trainer calls
  // it first so that `blt bench` times it apart ("update/gradient sum": what backward did not hide).
  void sum_gradients();
  // After backward: sums the gradients over ranks (unless sum_gradients did), scales them down
  // to `max_norm` when their global L2 norm exceeds it (0 = never), applies AdamW at `lr` and
  // clears them. Returns the global norm before clipping as a float64 scalar
  // tensor on the parameters' device, without waiting for it: reading it
  // (.item()) waits for the step to finish, so callers do that only where they
  // log it. A non-finite norm halts the updates (first_nonfinite_step).
  torch::Tensor step(double lr, double max_norm);
  // For the next step() only: a bool scalar on the device that, when true, halts that step's
  // update and every later one as a non-finite norm does (the trainer's "loss not finite").
  // Read on the device only.
  void halt_next_step_if(const torch::Tensor& flag) { halt_next_ = flag; }
  // The first step (counted from 1 like the optimizer's steps) whose global
  // gradient norm was not finite (or that halt_next_step_if halted), or 0. That step's update and every later one
  // are skipped on the device, so the parameters stay those of the step before:
  // a caller reads this (which waits for the device) before it logs, evaluates
  // or saves, and stops. Every rank holds the same global norm, so all agree.
  int64_t first_nonfinite_step() const;

  // Every rank writes its shard into `dir`; the main rank also writes the manifest.
  void save(const std::string& dir);
  // Restores parameters and optimizer state from a checkpoint saved by any number of ranks.
  void load(const std::string& dir);

 protected:
  // Elements [param_begin, param_begin + count) of flattened optimizer parameter
  // `param`, found at `local_begin` of that optimizer parameter's own tensor
  // (whole model parameters under ddp, chunk pieces under the sharded strategies).
  struct SliceSpec {
    std::size_t param;
    int64_t param_begin, local_begin, count;
  };

  ParamUpdate(Comm& comm, ParamShapes shapes) : comm_(comm), shapes_(std::move(shapes)) {}
  // sum_gradients's and step's work, by strategy.
  virtual void sum_gradients_over_ranks() = 0;
  virtual torch::Tensor step_with_summed_gradients(double lr, double max_norm) = 0;
  virtual std::vector<SliceSpec> saved_slices() const = 0;   // what this rank writes
  virtual std::vector<SliceSpec> loaded_slices() const = 0;  // what this rank needs back
  // Called after load() filled the optimizer parameters and state.
  virtual void after_load() {}
  // with_whole_params's gathering of every parameter, and its return to the between-steps state.
  virtual void gather_whole() {}
  virtual void release_whole() {}
  // AdamW at `lr` on `grads` (one per optimizer parameter), scaled down to
  // `max_norm` by their global L2 `norm`, unless this step's or an earlier
  // step's norm was not finite. Neither test waits for the device.
  void apply_update(double lr, const std::vector<torch::Tensor>& grads, const torch::Tensor& norm, double max_norm);

  Comm& comm_;
  ParamShapes shapes_;  // of the model's parameters, in module order
  std::unique_ptr<train::AdamW> optimizer_;

 private:
  std::vector<ParamSlice> slices(const std::vector<SliceSpec>& specs) const;

  torch::Tensor nonfinite_step_;  // int64 scalar beside the norm; 0 while every norm was finite
  torch::Tensor halt_next_;       // halt_next_step_if's flag, until the step that uses it
  bool gradients_summed_ = false;  // sum_gradients ran since the last step
};

// The model's parameters in module order, decay flags from model::parameter_groups.
std::vector<train::AdamW::Param> model_params(const model::CausalLM& model);
ParamShapes shapes_of(const std::vector<train::AdamW::Param>& params);

// The sum of the squared L2 norms of the defined `grads`, dense or sparse (float64 scalar on `device`).
torch::Tensor squared_norm(const std::vector<torch::Tensor>& grads, const torch::Device& device);
// The factor that brings gradients of global L2 norm `norm` (a scalar tensor) down to
// `max_norm`: max_norm / (norm + 1e-6) above it, 1 within it; undefined (no clipping) when
// max_norm is 0. Computed on norm's device: no host synchronisation.
torch::Tensor clip_factor(const torch::Tensor& norm, double max_norm);

// The strategy named by dist.strategy, summing gradients in dist.reduce_dtype, over `model`'s
// parameters (made equal to rank 0's first). `compute_dtype`: the dtype autocast runs the forward
// in (bf16), if any. ddp then keeps compute copies of the linear weights in it, which its AdamW
// writes in the update's pass (model/linear.h); zero2 and fsdp write their weights by all-gathers
// and let autocast cast them.
std::unique_ptr<ParamUpdate> make_param_update(const DistConfig& dist, model::CausalLM& model, Comm& comm,
                                               const train::OptimizerConfig& config,
                                               c10::optional<torch::ScalarType> compute_dtype = c10::nullopt);

}  // namespace blt::parallel
