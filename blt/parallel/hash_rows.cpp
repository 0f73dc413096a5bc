#include "blt/parallel/hash_rows.h"

#include "blt/core/error.h"
#include "blt/model/blt_model.h"
#include "blt/model/unit_hooks.h"

namespace blt::parallel {
namespace {

const model::BltModel* hash_table_model(const model::CausalLM& model) {
  const auto* blt = dynamic_cast<const model::BltModel*>(&model);
  return blt && blt->encoder_hash_tok_embedding ? blt : nullptr;
}

}  // namespace

torch::Tensor sparse_hash_table(const model::CausalLM& model, const train::OptimizerConfig& config) {
  const auto* blt = hash_table_model(model);
  return config.sparse_hash_rows && blt ? blt->encoder_hash_tok_embedding->weight : torch::Tensor();
}

train::AdamW::Param table_param(const train::AdamW::Param& table, const train::OptimizerConfig& config) {
  auto out = table;
  if (config.table_moments == "bfloat16") out.moments = torch::kBFloat16;
  return out;
}

// Before the lookup: its rows (the lookup's input) caught up to the current step.
class TableCatchUp::Hook : public model::UnitHook {
 public:
  Hook(train::AdamW& optimizer, std::size_t param) : optimizer_(optimizer), param_(param) {}
  torch::Tensor enter(const torch::Tensor& rows) override {
    optimizer_.catch_up_rows(param_, rows);
    return rows;
  }
  torch::Tensor leave(const torch::Tensor& output) override { return output; }

 private:
  train::AdamW& optimizer_;
  std::size_t param_;
};

TableCatchUp::TableCatchUp(const model::CausalLM& model, train::AdamW& optimizer) {
  const auto* blt = hash_table_model(model);
  if (!blt) fail("sparse hash rows: the model has no hash n-gram table");
  const auto& params = optimizer.params();
  std::size_t param = 0;
  while (param < params.size() && !params[param].value.is_same(blt->encoder_hash_tok_embedding->weight)) ++param;
  if (param == params.size()) fail("sparse hash rows: the optimizer does not hold the hash table");
  hook_ = std::make_unique<Hook>(optimizer, param);
  module_ = blt->encoder_hash_tok_embedding.get();
  model::set_unit_hook(module_, hook_.get());
}

TableCatchUp::~TableCatchUp() { model::set_unit_hook(module_, nullptr); }

}  // namespace blt::parallel
