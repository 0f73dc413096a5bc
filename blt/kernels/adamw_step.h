// AdamW with blt's CUDA kernels (adamw_kernel.h), for train/adamw.cpp: float32 CUDA tensors (the
// gradient float32 or bf16), contiguous, in a build with the kernels, all of a step in one launch.
// Everything else takes LibTorch's fused kernel or the reference loop there.
#pragma once
#include <vector>

#include <torch/torch.h>

namespace blt::kernels {

// Whether adamw_step takes these tensors.
bool adamw_kernel_applies(const torch::Tensor& value, const torch::Tensor& grad, const torch::Tensor& exp_avg,
                          const torch::Tensor& exp_avg_sq);

struct AdamWHyper {
  double lr, beta1, beta2, eps, weight_decay;  // weight_decay 0 for tensors without decay
  int64_t step;                                // counted from 1, this step included
};

// One step's scalars in float64, as every AdamW path computes them (the kernels take them as
// float32): 1 - lr * weight_decay, lr / (1 - beta1^step) and sqrt(1 - beta2^step).
struct AdamWStepScalars {
  double decay, step_size, bias2_sqrt;
};
AdamWStepScalars step_scalars(const AdamWHyper& h);

// One dense AdamW step's tensors: value, gradient and moments as adamw_kernel_applies takes them,
// and the value's compute copy (a contiguous bf16 tensor of its size on its device, or undefined),
// which receives the new values rounded to bf16, as value.to(bf16) would make them.
struct AdamWTensors {
  torch::Tensor value, grad, exp_avg, exp_avg_sq, copy;
  bool decays;  // weight decay applies (h.weight_decay); without it the tensor steps as with 0
};

// One step in place of every tensor in `tensors` (all on one device), in one launch. `clip`
// multiplies the gradients (a scalar on the device, or undefined); where `skip` (a bool scalar on
// the device, or undefined) is true nothing changes. Neither is read on the host.
void adamw_steps(const std::vector<AdamWTensors>& tensors, const AdamWHyper& h, const torch::Tensor& clip,
                 const torch::Tensor& skip);

// Whether the table kernels below take this table and its moments: a contiguous float32 CUDA
// table, moments of its size stored as float32 or bfloat16 (both alike; the arithmetic is float32),
// in a build with the kernels.
bool table_kernels_apply(const torch::Tensor& value, const torch::Tensor& exp_avg, const torch::Tensor& exp_avg_sq);

// Lazy AdamW's catch-up (train/adamw_rows.h) with blt's kernel, for tables that table_kernels_apply
// to: every row in `rows` (int64, sorted, repeats allowed) runs the applied steps of `history`
// (float64 [capacity, 4] on the device) in (last[row], through] with a zero gradient; `last` is
// int32 [rows of the table]. Neither is read on the host; `last` is left for the caller to advance.
void adamw_catch_up(torch::Tensor& value, torch::Tensor& exp_avg, torch::Tensor& exp_avg_sq, const torch::Tensor& rows,
                    const torch::Tensor& last, const torch::Tensor& history, int64_t through, const AdamWHyper& h,
                    bool decays);

// A row-sparse gradient (sparse COO over a table's rows, coalesced or not: repeated rows add) as
// blt's row kernels take it: its entries sorted by row, stably, and summed in pieces of one row
// (adamw_kernel.h: sum_row_pieces), so that a row's lookups are always summed in one order.
// Sorting keeps the shapes (one entry per lookup), so unlike coalesce() nothing waits for the
// host to learn how many rows are distinct.
struct SortedRows {
  torch::Tensor rows;    // int64 [count], sorted
  torch::Tensor pieces;  // float32 [count, dim]: piece sums at the pieces' first entries
};
// Whether adamw_rows takes this table, its moments and its row-sparse gradient.
bool adamw_rows_kernel_applies(const torch::Tensor& value, const torch::Tensor& exp_avg,
                               const torch::Tensor& exp_avg_sq, const torch::Tensor& sparse_grad);
// For a float32 row-sparse gradient on CUDA (one sparse dimension), in a build with the kernels.
SortedRows sort_rows(const torch::Tensor& sparse_grad);
// The squared L2 norm of the gradient (repeated rows summed first), a float64 scalar on its device.
torch::Tensor rows_squared_norm(const SortedRows& grad);
// One AdamW step (hyper's) on the rows `grad` holds, after the steps they missed (adamw_catch_up
// through h.step - 1); `clip` and `skip` as in adamw_step. `last` is left for the caller to advance.
void adamw_rows(torch::Tensor& value, torch::Tensor& exp_avg, torch::Tensor& exp_avg_sq, const SortedRows& grad,
                const torch::Tensor& last, const torch::Tensor& history, const AdamWHyper& h, bool decays,
                const torch::Tensor& clip, const torch::Tensor& skip);

}  // namespace blt::kernels
