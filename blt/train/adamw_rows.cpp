#include "blt/train/adamw_rows.h"

#include <algorithm>
#include <tuple>

#include "blt/kernels/fused_ops.h"  // cuda_kernels_built

namespace blt::train {

void StepHistory::record(int64_t step, const kernels::AdamWStepScalars& scalars, const torch::Tensor& skip,
                         const torch::Device& device) {
  torch::NoGradGuard no_grad;
  if (!table_.defined() || table_.size(0) <= step) {  // doubling: a copy now and then, on the device
    auto grown = torch::zeros({std::max<int64_t>(2 * (step + 1), 1024), 4},
                              torch::TensorOptions().dtype(torch::kDouble).device(device));
    if (table_.defined()) grown.narrow(0, 0, table_.size(0)).copy_(table_);
    table_ = grown;
  }
  // fill_ takes its value as a kernel argument: no copy from the host, no wait.
  auto row = table_.select(0, step);
  row.select(0, 0).fill_(scalars.decay);
  row.select(0, 1).fill_(scalars.step_size);
  row.select(0, 2).fill_(scalars.bias2_sqrt);
  if (skip.defined())
    row.select(0, 3).copy_(skip.to(device).logical_not());
  else
    row.select(0, 3).fill_(1.0);
}

namespace {

// reference_update's operations with a zero gradient, on copies of the rows, one step at a time;
// a row takes step s only if it is behind it (mask). Reads the history on the host.
void reference_catch_up(LazyTable& t, const torch::Tensor& unique, int64_t through, const StepHistory& history,
                        const kernels::AdamWHyper& hyper) {
  const auto from = t.last.index_select(0, unique).to(torch::kLong);
  const int64_t first = from.min().item<int64_t>();
  if (first >= through) return;
  const auto steps = history.table().narrow(0, 0, through + 1).cpu();
  const auto h = steps.accessor<double, 2>();
  std::vector<int64_t> mask_shape(static_cast<std::size_t>(t.value.dim()), 1);
  mask_shape[0] = unique.numel();
  const auto behind_of = from.view(mask_shape);
  const auto dtype = t.value.scalar_type();  // the arithmetic's, whatever the moments are stored as
  auto value = t.value.index_select(0, unique), m = t.exp_avg.index_select(0, unique).to(dtype),
       v = t.exp_avg_sq.index_select(0, unique).to(dtype);
  for (int64_t s = first + 1; s <= through; ++s) {
    if (h[s][3] == 0.0) continue;
    const auto behind = behind_of < s;
    auto next_value = t.decays && hyper.weight_decay > 0 ? value * h[s][0] : value;
    const auto next_m = m * hyper.beta1, next_v = v * hyper.beta2;
    next_value = next_value.addcdiv(next_m, (next_v.sqrt() / h[s][2]).add_(hyper.eps), -h[s][1]);
    value = torch::where(behind, next_value, value);
    m = torch::where(behind, next_m, m);
    v = torch::where(behind, next_v, v);
  }
  t.value.index_copy_(0, unique, value);
  t.exp_avg.index_copy_(0, unique, m.to(t.exp_avg.scalar_type()));
  t.exp_avg_sq.index_copy_(0, unique, v.to(t.exp_avg_sq.scalar_type()));
}

}  // namespace

void run_missed_steps(LazyTable& table, const torch::Tensor& rows, int64_t through, const StepHistory& history,
                      const kernels::AdamWHyper& hyper, bool fused) {
  torch::NoGradGuard no_grad;
  if (rows.numel() == 0) return;
  const auto sorted = std::get<0>(rows.flatten().to(table.last.device(), torch::kLong).sort());
  if (fused && kernels::table_kernels_apply(table.value, table.exp_avg, table.exp_avg_sq)) {
    kernels::adamw_catch_up(table.value, table.exp_avg, table.exp_avg_sq, sorted, table.last, history.table(), through,
                            hyper, table.decays);
  } else {
    reference_catch_up(table, std::get<0>(torch::unique_consecutive(sorted)), through, history, hyper);
  }
  table.last.index_fill_(0, sorted, static_cast<int32_t>(through));
}

torch::Tensor row_sparse_squared_norm(const torch::Tensor& grad) {
  torch::NoGradGuard no_grad;
  if (kernels::cuda_kernels_built() && grad.is_cuda() && grad.scalar_type() == torch::kFloat && grad.sparse_dim() == 1)
    return kernels::rows_squared_norm(kernels::sort_rows(grad));
  return grad.coalesce().values().norm().to(torch::kDouble).square();
}

}  // namespace blt::train
