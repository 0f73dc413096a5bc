#include "blt/dist/sharded_unit.h"

#include "blt/core/error.h"

namespace blt::dist {
namespace {

FlatLayout layout_of(const ParamUnit& unit, const std::set<std::string>& decayed, int world_size) {
  std::vector<FlatEntry> entries;
  for (const auto& [name, p] : unit.params) {
    if (p.scalar_type() != torch::kFloat)
      fail("sharding: parameter '{}' is {}, but master weights must be fp32", name, c10::toString(p.scalar_type()));
    entries.push_back({name, p.sizes().vec(), decayed.count(name) > 0});
  }
  return FlatLayout(std::move(entries), world_size);
}

}  // namespace

ShardedUnit::ShardedUnit(const ParamUnit& unit, const std::set<std::string>& decayed, Comm& comm)
    : name_(unit.name), layout_(layout_of(unit, decayed, comm.world_size())), pieces_(layout_.pieces(comm.rank())),
      comm_(comm) {
  torch::NoGradGuard no_grad;
  for (const auto& named : unit.params) params_.push_back(named.second);
  auto flat = torch::zeros({layout_.padded_numel()}, params_.front().options());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const auto& e = layout_.entries()[i];
    flat.narrow(0, e.offset, e.numel).copy_(params_[i].reshape({-1}));
  }
  master_ = flat.narrow(0, comm.rank() * layout_.shard_numel(), layout_.shard_numel()).clone();
  grad_ = torch::zeros_like(master_);
}

void ShardedUnit::reduce_scatter_grads() {
  torch::NoGradGuard no_grad;
  auto flat = torch::zeros({layout_.padded_numel()}, master_.options());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    if (!p.grad().defined()) continue;
    const auto& e = layout_.entries()[i];
    flat.narrow(0, e.offset, e.numel).copy_(p.grad().reshape({-1}));
    p.mutable_grad() = torch::Tensor();
  }
  grad_ = comm_.reduce_scatter_sum(flat);
}

void ShardedUnit::gather() {
  torch::NoGradGuard no_grad;
  const auto full = comm_.all_gather(master_);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const auto& e = layout_.entries()[i];
    params_[i].set_data(full.narrow(0, e.offset, e.numel).view(e.shape));
  }
}

void ShardedUnit::release() {
  for (auto& p : params_) p.set_data(torch::empty({0}, p.options()));
}

}  // namespace blt::dist
