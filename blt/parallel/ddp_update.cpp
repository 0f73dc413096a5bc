#include "blt/parallel/ddp_update.h"

#include "blt/model/blt_model.h"

namespace blt::parallel {
namespace {

// Before the hash table's lookup: its rows (the lookup's input) caught up to the current step.
class CatchUpRows : public model::UnitHook {
 public:
  CatchUpRows(train::AdamW& optimizer, std::size_t param) : optimizer_(optimizer), param_(param) {}
  torch::Tensor enter(const torch::Tensor& rows) override {
    optimizer_.catch_up_rows(param_, rows);
    return rows;
  }
  torch::Tensor leave(const torch::Tensor& output) override { return output; }

 private:
  train::AdamW& optimizer_;
  std::size_t param_;
};

std::vector<torch::Tensor> values_of(const std::vector<train::AdamW::Param>& params) {
  std::vector<torch::Tensor> out;
  for (const auto& p : params) out.push_back(p.value);
  return out;
}

// The hash n-gram table, when the model has one (the trainer names the other configurations' error).
const model::BltModel* hash_table_model(const model::CausalLM& model) {
  const auto* blt = dynamic_cast<const model::BltModel*>(&model);
  return blt && blt->encoder_hash_tok_embedding ? blt : nullptr;
}

// The table whose gradient comes row-sparse (train.optimizer.sparse_hash_rows), or undefined.
torch::Tensor sparse_table(const model::CausalLM& model, const train::OptimizerConfig& config) {
  const auto* blt = hash_table_model(model);
  return config.sparse_hash_rows && blt ? blt->encoder_hash_tok_embedding->weight : torch::Tensor();
}

std::vector<GradSync::Param> synced(const std::vector<train::AdamW::Param>& params, const torch::Tensor& table) {
  std::vector<GradSync::Param> out;
  for (const auto& p : params) out.push_back({p.name, p.value, table.defined() && p.value.is_same(table)});
  return out;
}

parallel::FlatLayout layout_of(const ParamShapes& shapes, int world_size) {
  std::vector<FlatEntry> entries;
  for (const auto& [name, shape] : shapes) entries.push_back({name, shape});
  return FlatLayout(std::move(entries), world_size);
}

}  // namespace

DdpUpdate::DdpUpdate(model::CausalLM& model, Comm& comm, const train::OptimizerConfig& config,
                     const DistConfig& dist)
    : DdpUpdate(model_params(model), sparse_table(model, config), comm, config, dist) {
  if (config.sparse_hash_rows) hook_hash_table(model);
}

DdpUpdate::~DdpUpdate() {
  if (hooked_table_) model::set_unit_hook(hooked_table_, nullptr);
}

void DdpUpdate::hook_hash_table(model::CausalLM& model) {
  const auto* blt = hash_table_model(model);
  if (!blt) return;
  const auto& weight = blt->encoder_hash_tok_embedding->weight;
  const auto& params = optimizer_->params();
  for (std::size_t i = 0; i < params.size(); ++i)
    if (params[i].value.is_same(weight)) {
      table_hook_ = std::make_unique<CatchUpRows>(*optimizer_, i);
      hooked_table_ = blt->encoder_hash_tok_embedding.get();
      model::set_unit_hook(hooked_table_, table_hook_.get());
    }
}

DdpUpdate::DdpUpdate(std::vector<train::AdamW::Param> params, const torch::Tensor& table, Comm& comm,
                     const train::OptimizerConfig& config, const DistConfig& dist)
    : ParamUpdate(comm, shapes_of(params)),
      params_(values_of(params)),
      layout_(layout_of(shapes_, comm.world_size())),
      grad_sync_(synced(params, table), comm, dist.reduce_scalar_type(), dist.bucket_mb << 20) {
  if (config.table_moments == "bfloat16")
    for (auto& p : params)
      if (table.defined() && p.value.is_same(table)) p.moments = torch::kBFloat16;
  optimizer_ = std::make_unique<train::AdamW>(std::move(params), config);
}

void DdpUpdate::sum_gradients_over_ranks() { grad_sync_.all_reduce_grads(); }

torch::Tensor DdpUpdate::step_with_summed_gradients(double lr, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;  // a sparse one (hash tables' rows) as it came: the norm and AdamW sum repeats
  for (const auto& p : params_) grads.push_back(p.grad());
  const auto norm = squared_norm(grads, params_.front().device()).sqrt();
  apply_update(lr, grads, norm, max_norm);
  grad_sync_.clear_grads();
  return norm;
}

std::vector<ParamUpdate::SliceSpec> DdpUpdate::saved_slices() const {
  std::vector<SliceSpec> out;
  for (const auto& piece : layout_.pieces(comm_.rank())) out.push_back({piece.entry, piece.begin, piece.begin, piece.count});
  return out;
}

std::vector<ParamUpdate::SliceSpec> DdpUpdate::loaded_slices() const {
  std::vector<SliceSpec> out;
  for (std::size_t i = 0; i < params_.size(); ++i) out.push_back({i, 0, 0, params_[i].numel()});
  return out;
}

}  // namespace blt::parallel
