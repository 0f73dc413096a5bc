// dist.strategy ddp: every rank holds the whole model and the whole AdamW state;
// gradients are summed over ranks by dist::GradSync. In a checkpoint each rank
// saves its chunk of the flat parameter space (dist::FlatLayout over all
// parameters) and loads every parameter whole.
#pragma once
#include "blt/dist/flat_layout.h"
#include "blt/dist/grad_sync.h"
#include "blt/train/param_update.h"

namespace blt::train {

class DdpUpdate : public ParamUpdate {
 public:
  DdpUpdate(model::CausalLM& model, dist::Comm& comm, const OptimizerConfig& config);
  torch::Tensor step(double lr, double max_norm) override;

 private:
  DdpUpdate(std::vector<AdamW::Param> params, dist::Comm& comm, const OptimizerConfig& config);
  std::vector<SliceSpec> saved_slices() const override;
  std::vector<SliceSpec> loaded_slices() const override;

  std::vector<torch::Tensor> params_;
  dist::FlatLayout layout_;
  dist::GradSync grad_sync_;
};

}  // namespace blt::train
