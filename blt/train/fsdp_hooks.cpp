#include "blt/train/fsdp_hooks.h"

#include "blt/core/error.h"

namespace blt::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Autograd passes no pointers through a Function's arguments; the unit rides as an integer.
int64_t as_id(dist::ShardedUnit& unit) { return reinterpret_cast<int64_t>(&unit); }
dist::ShardedUnit& unit_of(AutogradContext* ctx) {
  return *reinterpret_cast<dist::ShardedUnit*>(ctx->saved_data.at("unit").toInt());
}

// Identity on the block's output; in backward, gathers the block before its own backward runs.
struct GatherForBackward : torch::autograd::Function<GatherForBackward> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, int64_t unit) {
    ctx->saved_data["unit"] = unit;
    return x;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto& unit = unit_of(ctx);
    if (!unit.gathered()) unit.gather();
    return {grads[0], torch::Tensor()};
  }
};

// Identity on the block's input; in backward, after the block's, hands its gradients on and frees it.
struct ReduceAfterBackward : torch::autograd::Function<ReduceAfterBackward> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, int64_t unit) {
    ctx->saved_data["unit"] = unit;
    return x;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto& unit = unit_of(ctx);
    unit.reduce_scatter_grads();
    unit.release();
    return {grads[0], torch::Tensor()};
  }
};

}  // namespace

torch::Tensor BlockGatherHook::enter(const torch::Tensor& input) {
  if (!unit_.gathered()) unit_.gather();
  if (!torch::GradMode::is_enabled()) return input;
  if (!input.requires_grad())
    fail("fsdp: the input of unit {} carries no gradient, so its parameter gradients would be lost", unit_.name());
  return ReduceAfterBackward::apply(input, as_id(unit_));
}

torch::Tensor BlockGatherHook::leave(const torch::Tensor& output) {
  unit_.release();
  if (!torch::GradMode::is_enabled()) return output;
  return GatherForBackward::apply(output, as_id(unit_));
}

torch::Tensor TableGatherHook::enter(const torch::Tensor& input) {
  if (!unit_.gathered()) unit_.gather();
  return input;
}

torch::Tensor TableGatherHook::leave(const torch::Tensor& output) {
  unit_.release();
  return output;
}

}  // namespace blt::train
