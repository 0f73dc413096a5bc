#include "blt/model/rope.h"

#include "blt/kernels/fused_ops.h"

namespace blt::model {

RopeTable rope_table(const torch::Tensor& positions, int64_t head_dim, double theta, torch::ScalarType dtype) {
  const auto acc = dtype == torch::kDouble ? torch::kDouble : torch::kFloat;
  const auto opts = torch::TensorOptions().dtype(acc).device(positions.device());
  auto exponents = torch::arange(0, head_dim, 2, torch::TensorOptions().dtype(torch::kLong).device(positions.device()))
                       .to(acc) / static_cast<double>(head_dim);
  auto inv_freq = 1.0 / torch::pow(torch::scalar_tensor(theta, opts), exponents);
  auto freqs = positions.to(acc).unsqueeze(-1) * inv_freq.unsqueeze(0);  // [L, head_dim / 2]
  auto angles = freqs.repeat_interleave(2, -1);
  return {angles.cos().to(dtype), angles.sin().to(dtype)};
}

torch::Tensor apply_rope(const torch::Tensor& x, const RopeTable& table) {
  using torch::indexing::Slice;
  auto even = x.index({"...", Slice(0, torch::indexing::None, 2)});
  auto odd = x.index({"...", Slice(1, torch::indexing::None, 2)});
  auto rotated = torch::stack({-odd, even}, -1).flatten(-2);
  return x * table.cos + rotated * table.sin;
}

torch::Tensor rope_heads(const torch::Tensor& x, const RopeTable& table) {
  const auto& cos = table.cos;
  if (kernels::use_fused(x) && kernels::use_fused(cos) && cos.dim() == 2 && cos.size(0) == x.size(1))
    return kernels::rope(x, cos, table.sin).transpose(1, 2);
  return apply_rope(x.transpose(1, 2), table);
}

}  // namespace blt::model
