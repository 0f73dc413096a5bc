// AdamW with decoupled weight decay, over a named list of fp32 tensors.
//
// Our own rather than torch::optim::AdamW: the same arithmetic must run on
// whole parameters (one process, ddp) and on flat shards of them (zero2, fsdp),
// and its state must save under stable names to safetensors checkpoints.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "blt/train/train_config.h"

namespace blt::train {

class AdamW {
 public:
  struct Param {
    std::string name;
    torch::Tensor value;  // fp32, updated in place from value.grad()
    bool decay;           // weight decay applies (matrices, embeddings) or not (norm scales)
  };

  AdamW(std::vector<Param> params, const OptimizerConfig& config);

  // One update at learning rate `lr` from each parameter's .grad(); parameters
  // without a gradient are skipped.
  void step(double lr);
  // The same update with the gradients given: grads[i] belongs to params()[i]
  // (sharded strategies keep gradients of flat shards outside autograd).
  void step(double lr, const std::vector<torch::Tensor>& grads);
  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }  // when restoring state saved piecewise
  const std::vector<Param>& params() const { return params_; }

  // State tensors under "exp_avg.NAME", "exp_avg_sq.NAME" and "step".
  std::map<std::string, torch::Tensor> state() const;
  // Restores state(); a missing tensor or a shape mismatch is an error naming it.
  void load_state(const std::map<std::string, torch::Tensor>& state, const std::string& source);

 private:
  std::vector<Param> params_;
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;
  OptimizerConfig config_;
  int64_t steps_ = 0;
};

}  // namespace blt::train
