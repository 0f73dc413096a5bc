// The hash n-gram table's row-sparse path (train.optimizer.sparse_hash_rows), the same under every
// dist.strategy: the table stays whole on every rank, its gradient comes as the rows a step looked
// up, the ranks exchange those rows (parallel/grad_sync), and AdamW updates only them and keeps
// the rest lazily behind (train/adamw_rows.h). Before a lookup reads rows, a hook brings them to
// the current step, so sparse updates give dense AdamW's values.
#pragma once
#include <cstddef>
#include <memory>

#include <torch/torch.h>

#include "blt/model/causal_lm.h"
#include "blt/train/adamw.h"
#include "blt/train/train_config.h"

namespace blt::parallel {

// The hash table whose gradient comes row-sparse under `config` (sparse_hash_rows on a BLT with
// hash n-gram tables), or an undefined tensor.
torch::Tensor sparse_hash_table(const model::CausalLM& model, const train::OptimizerConfig& config);

// The table as an AdamW parameter: its moments in config.table_moments.
train::AdamW::Param table_param(const train::AdamW::Param& table, const train::OptimizerConfig& config);

// While it lives, the table's lookup first catches up the rows it reads to `optimizer`'s step.
class TableCatchUp {
 public:
  // `optimizer` must hold the model's hash table as one of its parameters.
  TableCatchUp(const model::CausalLM& model, train::AdamW& optimizer);
  ~TableCatchUp();
  TableCatchUp(const TableCatchUp&) = delete;
  TableCatchUp& operator=(const TableCatchUp&) = delete;

 private:
  class Hook;
  std::unique_ptr<Hook> hook_;
  const torch::nn::Module* module_;
};

}  // namespace blt::parallel
