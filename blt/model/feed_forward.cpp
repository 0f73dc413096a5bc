#include "blt/model/feed_forward.h"

#include "blt/kernels/fused_ops.h"

namespace blt::model {

FeedForwardImpl::FeedForwardImpl(int64_t dim, int64_t hidden) {
  gate_proj = register_module("gate_proj", Linear(dim, hidden));
  up_proj = register_module("up_proj", Linear(dim, hidden));
  down_proj = register_module("down_proj", Linear(hidden, dim));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  const auto gate = gate_proj(x), up = up_proj(x);
  if (kernels::use_fused(gate) && gate.scalar_type() == up.scalar_type()) return down_proj(kernels::silu_mul(gate, up));
  return down_proj(torch::silu(gate) * up);
}

}  // namespace blt::model
