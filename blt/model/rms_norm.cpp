#include "blt/model/rms_norm.h"

namespace blt::model {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  const auto acc = x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  auto h = x.to(acc);
  h = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return weight * h.to(x.scalar_type());
}

}  // namespace blt::model
