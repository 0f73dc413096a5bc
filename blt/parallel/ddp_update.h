// dist.strategy ddp: every rank holds the whole model and the whole AdamW state;
// gradients are summed over ranks by GradSync. In a checkpoint each rank
// saves its chunk of the flat parameter space (FlatLayout over all
// parameters) and loads every parameter whole.
//
// With train.optimizer.sparse_hash_rows the hash n-gram tables' gradients are row-sparse and
// AdamW updates only those rows (adamw_rows.h); a hook on the table's lookup brings the rows a
// forward pass reads to the current step first.
#pragma once
#include <memory>

#include "blt/model/unit_hooks.h"
#include "blt/parallel/flat_layout.h"
#include "blt/parallel/grad_sync.h"
#include "blt/parallel/param_update.h"

namespace blt::parallel {

class DdpUpdate : public ParamUpdate {
 public:
  // Gradients summed in dist.reduce_dtype, in buckets of dist.bucket_mb.
  DdpUpdate(model::CausalLM& model, Comm& comm, const train::OptimizerConfig& config, const DistConfig& dist);
  ~DdpUpdate() override;
  void before_last_backward() override { grad_sync_.reduce_in_next_backward(); }

 private:
  void sum_gradients_over_ranks() override;
  torch::Tensor step_with_summed_gradients(double lr, double max_norm) override;

  // `table`: the hash table whose gradient comes row-sparse (undefined: none).
  DdpUpdate(std::vector<train::AdamW::Param> params, const torch::Tensor& table, Comm& comm,
            const train::OptimizerConfig& config, const DistConfig& dist);
  // Catches up the rows of the table a lookup is about to read.
  void hook_hash_table(model::CausalLM& model);
  std::vector<SliceSpec> saved_slices() const override;
  std::vector<SliceSpec> loaded_slices() const override;

  std::vector<torch::Tensor> params_;
  FlatLayout layout_;
  GradSync grad_sync_;
  const torch::nn::Module* hooked_table_ = nullptr;
  std::unique_ptr<model::UnitHook> table_hook_;
};

}  // namespace blt::parallel
