#include "blt/train/fsdp_hooks.h"

#include "blt/core/error.h"

namespace blt::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Identity on a block's output (backward: gather the block before its own
// backward runs) or on its input (backward, after the block's: hand its
// gradients on and free it). Autograd passes no pointers through a Function's
// arguments; the unit rides as an integer.
struct BlockBoundary : torch::autograd::Function<BlockBoundary> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, int64_t unit, bool output) {
    ctx->saved_data["unit"] = unit;
    ctx->saved_data["output"] = output;
    return x;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto& unit = *reinterpret_cast<dist::ShardedUnit*>(ctx->saved_data.at("unit").toInt());
    if (ctx->saved_data.at("output").toBool()) {
      if (!unit.gathered()) unit.gather();
    } else {
      unit.reduce_scatter_grads();
      unit.release();
    }
    return {grads[0], torch::Tensor(), torch::Tensor()};
  }
};

torch::Tensor block_boundary(const torch::Tensor& x, dist::ShardedUnit& unit, bool output) {
  return BlockBoundary::apply(x, reinterpret_cast<int64_t>(&unit), output);
}

}  // namespace

torch::Tensor GatherHook::enter(const torch::Tensor& input) {
  if (!unit_.gathered()) unit_.gather();
  if (kind_ == Kind::kTable || !torch::GradMode::is_enabled()) return input;
  if (!input.requires_grad())
    fail("fsdp: the input of unit {} carries no gradient, so its parameter gradients would be lost", unit_.name());
  return block_boundary(input, unit_, /*output=*/false);
}

torch::Tensor GatherHook::leave(const torch::Tensor& output) {
  unit_.release();
  if (kind_ == Kind::kTable || !torch::GradMode::is_enabled()) return output;
  return block_boundary(output, unit_, /*output=*/true);
}

}  // namespace blt::train
