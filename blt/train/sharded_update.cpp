#include "blt/train/sharded_update.h"

#include <cmath>
#include <set>

#include "blt/dist/param_units.h"

namespace blt::train {

ShardedUpdate::ShardedUpdate(model::CausalLM& model, dist::Comm& comm, const OptimizerConfig& config,
                             bool release_after_use)
    : ShardedUpdate(model_params(model), comm, config, release_after_use) {}

ShardedUpdate::ShardedUpdate(std::vector<AdamW::Param> params, dist::Comm& comm, const OptimizerConfig& config,
                             bool release_after_use)
    : ParamUpdate(comm, shapes_of(params)), release_after_use_(release_after_use) {
  std::set<std::string> decayed;
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& p : params) {
    named.emplace_back(p.name, p.value);
    if (p.decay) decayed.insert(p.name);
  }
  std::vector<AdamW::Param> chunk_params;
  for (const auto& unit : dist::split_into_units(named)) {
    units_.push_back(std::make_unique<dist::ShardedUnit>(unit, decayed, comm));
    auto& u = *units_.back();
    for (const auto& piece : u.pieces()) {
      const auto& entry = u.layout().entries()[piece.entry];
      chunk_params.push_back({entry.name, u.master().narrow(0, piece.shard_offset, piece.count), entry.decay});
      segments_.push_back({units_.size() - 1, piece});
    }
  }
  optimizer_ = std::make_unique<AdamW>(std::move(chunk_params), config);
  release_params();
}

void ShardedUpdate::gather_params() {
  if (gathered_) return;
  for (auto& u : units_) u->gather();
  gathered_ = true;
}

void ShardedUpdate::release_params() {
  if (!release_after_use_) return;
  for (auto& u : units_) u->release();
  gathered_ = false;
}

double ShardedUpdate::step(double lr, double max_norm) {
  torch::NoGradGuard no_grad;
  double local_squares = 0;
  for (auto& u : units_) {
    u->reduce_scatter_grads();
    local_squares += u->grad().to(torch::kDouble).pow(2).sum().item<double>();
  }
  auto squares = torch::tensor({local_squares}, torch::kDouble);
  comm_.all_reduce_sum_(squares);
  const double norm = std::sqrt(squares.item<double>());
  const double factor = clip_factor(norm, max_norm);
  std::vector<torch::Tensor> grads;
  for (const auto& s : segments_) {
    auto g = units_[s.unit]->grad().narrow(0, s.piece.shard_offset, s.piece.count);
    grads.push_back(factor == 1.0 ? g : g * factor);
  }
  optimizer_->step(lr, grads);
  gathered_ = false;
  if (release_after_use_)
    release_params();
  else
    gather_params();
  return norm;
}

std::vector<ParamUpdate::SliceSpec> ShardedUpdate::saved_slices() const {
  std::vector<SliceSpec> out;
  for (std::size_t i = 0; i < segments_.size(); ++i) out.push_back({i, segments_[i].piece.begin, 0, segments_[i].piece.count});
  return out;
}

void ShardedUpdate::after_load() {
  gathered_ = false;
  if (!release_after_use_) gather_params();
}

}  // namespace blt::train
