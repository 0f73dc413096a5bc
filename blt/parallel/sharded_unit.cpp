#include "blt/parallel/sharded_unit.h"

#include <c10/core/DeviceGuard.h>

#include "blt/core/error.h"

namespace blt::parallel {
namespace {

FlatLayout layout_of(const ParamUnit& unit, const std::set<std::string>& decayed, int world_size) {
  std::vector<FlatEntry> entries;
  const auto dtype = unit.params.front().second.scalar_type();
  for (const auto& [name, p] : unit.params) {
    if (!p.is_floating_point() || p.scalar_type() != dtype)
      fail("sharding: parameter '{}' of unit {} is {}; a unit's parameters share one floating-point dtype ({}), "
           "which is also its master weights'",
           name, unit.name, c10::toString(p.scalar_type()), c10::toString(dtype));
    entries.push_back({name, p.sizes().vec(), decayed.count(name) > 0});
  }
  return FlatLayout(std::move(entries), world_size);
}

// The storage itself (shared by every view and by the tensors autograd saved
// from them) gives up or regains its memory; sizes and strides stay.
void free_storage(const torch::Tensor& t) {
  auto* storage = t.storage().unsafeGetStorageImpl();
  storage->set_data_ptr_noswap(at::DataPtr(nullptr, storage->device()));
  storage->set_nbytes(0);
}

// The allocator's raw allocate() takes no device: it serves the current one,
// which must be the storage's (a CUDA rank's GPU, not GPU 0).
void allocate_storage(const torch::Tensor& t) {
  auto* storage = t.storage().unsafeGetStorageImpl();
  const c10::DeviceGuard on_device(storage->device());
  const std::size_t bytes = static_cast<std::size_t>(t.numel()) * t.element_size();
  storage->set_data_ptr_noswap(storage->allocator()->allocate(bytes));
  storage->set_nbytes(bytes);
}

}  // namespace

ShardedUnit::ShardedUnit(const ParamUnit& unit, const std::set<std::string>& decayed, Comm& comm, bool kept_whole,
                         std::optional<c10::ScalarType> reduce_dtype)
    : name_(unit.name), layout_(layout_of(unit, decayed, comm.world_size())), pieces_(layout_.pieces(comm.rank())),
      comm_(comm), reduce_dtype_(reduce_dtype), aliased_(kept_whole && !comm.distributed()) {
  torch::NoGradGuard no_grad;
  for (const auto& named : unit.params) params_.push_back(named.second);
  full_ = torch::zeros({layout_.padded_numel()}, params_.front().options());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const auto& e = layout_.entries()[i];
    auto view = full_.narrow(0, e.offset, e.numel);
    view.copy_(params_[i].reshape({-1}));
    params_[i].set_data(view.view(e.shape));
  }
  const auto chunk = full_.narrow(0, comm.rank() * layout_.shard_numel(), layout_.shard_numel());
  master_ = aliased_ ? chunk : chunk.clone();
  grad_ = torch::zeros_like(master_);
}

void ShardedUnit::reduce_scatter_grads() {
  start_reduce_scatter_grads();
  finish_reduce_scatter_grads();
}

void ShardedUnit::start_reduce_scatter_grads() {
  torch::NoGradGuard no_grad;
  // In one process the chunk is the whole space: the gradients go straight into it (no flat
  // buffer, no collective); across ranks into a zeroed flat buffer, in the reduce dtype, that is
  // reduce-scattered.
  const bool across_ranks = comm_.distributed();
  auto into = across_ranks ? torch::zeros({layout_.padded_numel()},
                                          master_.options().dtype(reduce_dtype_.value_or(master_.scalar_type())))
                           : grad_;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    if (!p.grad().defined()) continue;
    const auto& e = layout_.entries()[i];
    into.narrow(0, e.offset, e.numel).add_(p.grad().reshape({-1}));
    p.mutable_grad() = torch::Tensor();
  }
  if (across_ranks) reducing_.push_back(comm_.start_reduce_scatter_sum(into));
}

void ShardedUnit::finish_reduce_scatter_grads() {
  if (reducing_.empty()) return;
  torch::NoGradGuard no_grad;
  grad_.add_(comm_.finish_reduce_scatter(reducing_.front()));
  reducing_.pop_front();
}

void ShardedUnit::zero_grad() {
  if (!reducing_.empty()) fail("sharding: unit {} zeroes its gradient with a reduce-scatter in flight", name_);
  grad_.zero_();
}

bool ShardedUnit::has_param_grads() const {
  return std::any_of(params_.begin(), params_.end(), [](const torch::Tensor& p) { return p.grad().defined(); });
}

void ShardedUnit::gather() {
  if (aliased_) return;  // the parameters are the master
  torch::NoGradGuard no_grad;
  start_gather();
  if (pending_) {
    comm_.finish_all_gather(*pending_);
    pending_.reset();
  } else {  // gathered already: gather the current chunks again
    comm_.all_gather_into(full_, master_);
  }
  gathered_ = true;
}

void ShardedUnit::start_gather() {
  if (gathered_ || pending_) return;
  torch::NoGradGuard no_grad;
  allocate_storage(full_);
  pending_ = comm_.start_all_gather_into(full_, master_);
}

void ShardedUnit::release() {
  if (aliased_) fail("sharding: unit {} keeps its parameters as its master and cannot release them", name_);
  if (pending_) gather();  // memory still being written to cannot be freed
  if (!gathered_) return;
  free_storage(full_);
  gathered_ = false;
}

}  // namespace blt::parallel
