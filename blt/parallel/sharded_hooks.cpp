#include "blt/parallel/sharded_hooks.h"

#include "blt/core/error.h"

namespace blt::parallel {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Identity on a block's output (its backward runs before the block's) or on
// its input (its backward runs after the block's). Autograd passes no pointers
// through a Function's arguments; the hook rides as an integer.
struct BlockBoundary : torch::autograd::Function<BlockBoundary> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, int64_t hook, bool output) {
    ctx->saved_data["hook"] = hook;
    ctx->saved_data["output"] = output;
    return x;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto& hook = *reinterpret_cast<BlockHook*>(ctx->saved_data.at("hook").toInt());
    if (ctx->saved_data.at("output").toBool())
      hook.begin_backward();
    else
      hook.end_backward();
    return {grads[0], torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

void BackwardReduces::start(ShardedUnit& unit) {
  unit.start_reduce_scatter_grads();
  queue_.push_back(&unit);
  started_.insert(&unit);
  if (queue_.size() > in_flight_) {
    queue_.front()->finish_reduce_scatter_grads();
    queue_.pop_front();
  }
}

void BackwardReduces::finish_all() {
  for (auto* unit : queue_) unit->finish_reduce_scatter_grads();
  queue_.clear();
  started_.clear();
}

torch::Tensor BlockHook::boundary(const torch::Tensor& x, bool output) {
  return BlockBoundary::apply(x, reinterpret_cast<int64_t>(this), output);
}

torch::Tensor GatherHook::enter(const torch::Tensor& input) {
  if (!unit_.gathered()) unit_.gather();
  if (next_) next_->start_gather();
  if (kind_ == Kind::kTable || !torch::GradMode::is_enabled()) return input;
  if (!input.requires_grad())
    fail("fsdp: the input of unit {} carries no gradient, so its parameter gradients would be lost", unit_.name());
  return boundary(input, /*output=*/false);
}

torch::Tensor GatherHook::leave(const torch::Tensor& output) {
  unit_.release();
  if (kind_ == Kind::kTable || !torch::GradMode::is_enabled()) return output;
  return boundary(output, /*output=*/true);
}

void GatherHook::begin_backward() {
  if (!unit_.gathered()) unit_.gather();
  if (previous_) previous_->start_gather();
}

void GatherHook::end_backward() {
  reduces_.start(unit_);  // takes the gradients out of the parameters' memory first
  unit_.release();
}

torch::Tensor ReduceHook::enter(const torch::Tensor& input) {
  if (!torch::GradMode::is_enabled() || !input.requires_grad()) return input;
  return boundary(input, /*output=*/false);
}

void ReduceHook::end_backward() {
  if (armed_) reduces_.start(unit_);
}

}  // namespace blt::parallel
