// dist.strategy ddp: every rank holds the whole model and the whole AdamW state;
// gradients are summed over ranks by GradSync. In a checkpoint each rank
// saves its chunk of the flat parameter space (FlatLayout over all
// parameters) and loads every parameter whole.
//
// With train.optimizer.sparse_hash_rows the hash n-gram tables take the row-sparse path of
// parallel/hash_rows.h: their rows are exchanged among the buckets' all-reduces. Only ddp keeps
// compute copies of the weights: every write of its weights is AdamW's or a tensor op's.
#pragma once
#include <memory>

#include "blt/parallel/flat_layout.h"
#include "blt/parallel/grad_sync.h"
#include "blt/parallel/hash_rows.h"
#include "blt/parallel/param_update.h"

namespace blt::parallel {

class DdpUpdate : public ParamUpdate {
 public:
  // Gradients summed in dist.reduce_dtype, in buckets of dist.bucket_mb; with `compute_dtype`, the
  // model's linear weights keep compute copies in it that AdamW writes (model/linear.h).
  DdpUpdate(model::CausalLM& model, Comm& comm, const train::OptimizerConfig& config, const DistConfig& dist,
            c10::optional<torch::ScalarType> compute_dtype = c10::nullopt);
  void before_last_backward() override { grad_sync_.reduce_in_next_backward(); }

 private:
  void sum_gradients_over_ranks() override;
  torch::Tensor step_with_summed_gradients(double lr, double max_norm) override;

  // `table`: `model`'s hash table whose gradient comes row-sparse (undefined: none).
  DdpUpdate(model::CausalLM& model, std::vector<train::AdamW::Param> params, const torch::Tensor& table, Comm& comm,
            const train::OptimizerConfig& config, const DistConfig& dist);
  std::vector<SliceSpec> saved_slices() const override;
  std::vector<SliceSpec> loaded_slices() const override;

  std::vector<torch::Tensor> params_;
  FlatLayout layout_;
  GradSync grad_sync_;
  std::unique_ptr<TableCatchUp> catch_up_;  // with sparse hash rows
};

}  // namespace blt::parallel
