#include "blt/parallel/ddp_update.h"

namespace blt::parallel {
namespace {

std::vector<torch::Tensor> values_of(const std::vector<train::AdamW::Param>& params) {
  std::vector<torch::Tensor> out;
  for (const auto& p : params) out.push_back(p.value);
  return out;
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

// `model`'s parameters, each linear weight with its compute copy in `dtype` when there is one.
std::vector<train::AdamW::Param> params_with_copies(model::CausalLM& model, c10::optional<torch::ScalarType> dtype) {
  auto params = model_params(model);
  if (!dtype) return params;
  for (const auto& copy : model::keep_compute_copies(model, *dtype))
    for (auto& p : params)
      if (p.value.is_same(copy->weight())) p.compute_copy = copy;
  return params;
}

}  // namespace

DdpUpdate::DdpUpdate(model::CausalLM& model, Comm& comm, const train::OptimizerConfig& config,
                     const DistConfig& dist, c10::optional<torch::ScalarType> compute_dtype)
    : DdpUpdate(model, params_with_copies(model, compute_dtype), sparse_hash_table(model, config), comm, config,
                dist) {}

DdpUpdate::DdpUpdate(model::CausalLM& model, std::vector<train::AdamW::Param> params, const torch::Tensor& table,
                     Comm& comm, const train::OptimizerConfig& config, const DistConfig& dist)
    : ParamUpdate(comm, shapes_of(params)),
      params_(values_of(params)),
      layout_(layout_of(shapes_, comm.world_size())),
      grad_sync_(synced(params, table), comm, dist.reduce_scalar_type(), dist.bucket_mb << 20) {
  for (auto& p : params)
    if (table.defined() && p.value.is_same(table)) p = table_param(p, config);
  optimizer_ = std::make_unique<train::AdamW>(std::move(params), config);
  if (table.defined()) catch_up_ = std::make_unique<TableCatchUp>(model, *optimizer_);
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
