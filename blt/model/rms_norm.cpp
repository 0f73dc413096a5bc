#include "blt/model/rms_norm.h"

#include "blt/core/torch_compat.h"
#include "blt/kernels/fused_ops.h"
#include "blt/model/init.h"

namespace blt::model {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}, param_options()));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  if (kernels::use_fused(x) && x.size(-1) <= kernels::kMaxNormDim) {
    // Every norm in the model feeds linear layers, which under autocast cast their input to the
    // autocast type first: the fused kernel stores that type directly and the cast disappears.
    auto out = torch::promote_types(weight.scalar_type(), x.scalar_type());
    const auto autocast = compat::cuda_autocast_state();
    if (x.is_cuda() && autocast.enabled) out = autocast.dtype;
    return kernels::rms_norm(x, weight, eps_, out);
  }
  const auto acc = x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  auto h = x.to(acc);
  h = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return weight * h.to(x.scalar_type());
}

}  // namespace blt::model
