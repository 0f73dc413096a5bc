#include "blt/parallel/fsdp_hooks.h"

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
    auto& hook = *reinterpret_cast<GatherHook*>(ctx->saved_data.at("hook").toInt());
    if (ctx->saved_data.at("output").toBool())
      hook.begin_backward();
    else
      hook.end_backward();
    return {grads[0], torch::Tensor(), torch::Tensor()};
  }
};

torch::Tensor block_boundary(const torch::Tensor& x, GatherHook& hook, bool output) {
  return BlockBoundary::apply(x, reinterpret_cast<int64_t>(&hook), output);
}

}  // namespace

torch::Tensor GatherHook::enter(const torch::Tensor& input) {
  if (!unit_.gathered()) unit_.gather();
  if (next_) next_->start_gather();
  if (kind_ == Kind::kTable || !torch::GradMode::is_enabled()) return input;
  if (!input.requires_grad())
    fail("fsdp: the input of unit {} carries no gradient, so its parameter gradients would be lost", unit_.name());
  return block_boundary(input, *this, /*output=*/false);
}

torch::Tensor GatherHook::leave(const torch::Tensor& output) {
  unit_.release();
  if (kind_ == Kind::kTable || !torch::GradMode::is_enabled()) return output;
  return block_boundary(output, *this, /*output=*/true);
}

void GatherHook::begin_backward() {
  if (!unit_.gathered()) unit_.gather();
  if (previous_) previous_->start_gather();
}

void GatherHook::end_backward() {
  unit_.reduce_scatter_grads();
  unit_.release();
}

}  // namespace blt::parallel
