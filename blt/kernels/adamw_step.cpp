#include "blt/kernels/adamw_step.h"

#include <cmath>
#include <cstring>

#include "blt/kernels/fused_ops.h"

#ifdef BLT_WITH_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "blt/kernels/adamw_kernel.h"
#endif

namespace blt::kernels {

bool adamw_kernel_applies(const torch::Tensor& value, const torch::Tensor& grad, const torch::Tensor& exp_avg,
                          const torch::Tensor& exp_avg_sq) {
  if (!cuda_kernels_built() || !value.is_cuda()) return false;
  if (grad.scalar_type() != torch::kFloat && grad.scalar_type() != torch::kBFloat16) return false;
  for (const auto* t : {&value, &grad, &exp_avg, &exp_avg_sq})
    if ((t != &grad && t->scalar_type() != torch::kFloat) || !t->is_contiguous() || t->numel() != value.numel() ||
        t->device() != value.device())
      return false;
  return true;
}

AdamWStepScalars step_scalars(const AdamWHyper& h) {
  const double bias1 = 1.0 - std::pow(h.beta1, double(h.step)), bias2 = 1.0 - std::pow(h.beta2, double(h.step));
  return {1.0 - h.lr * h.weight_decay, h.lr / bias1, std::sqrt(bias2)};
}

#ifdef BLT_WITH_CUDA_KERNELS
namespace {

cuda::AdamWScalars kernel_scalars(const AdamWHyper& h) {
  const auto d = step_scalars(h);
  return {static_cast<float>(h.beta1),     static_cast<float>(h.beta2),     static_cast<float>(h.eps),
          static_cast<float>(d.decay),     static_cast<float>(d.step_size), static_cast<float>(d.bias2_sqrt)};
}

// `clip` as float32 and `skip` as bool on `device` (undefined stays undefined), and their pointers.
struct ClipSkip {
  torch::Tensor clip, skip;
  ClipSkip(const torch::Tensor& c, const torch::Tensor& s, const torch::Device& device)
      : clip(c.defined() ? c.to(device, torch::kFloat).contiguous() : torch::Tensor()),
        skip(s.defined() ? s.to(device, torch::kBool).contiguous() : torch::Tensor()) {}
  const float* clip_ptr() const { return clip.defined() ? clip.data_ptr<float>() : nullptr; }
  const bool* skip_ptr() const { return skip.defined() ? skip.data_ptr<bool>() : nullptr; }
};

void* stream_of(const torch::Tensor& t) { return c10::cuda::getCurrentCUDAStream(t.device().index()).stream(); }

cuda::DType dtype_of(const torch::Tensor& t) {  // of a float32 or bf16 tensor
  return t.scalar_type() == torch::kBFloat16 ? cuda::DType::kBFloat16 : cuda::DType::kFloat;
}

}  // namespace
#endif

void adamw_steps(const std::vector<AdamWTensors>& tensors, const AdamWHyper& h, const torch::Tensor& clip,
                 const torch::Tensor& skip) {
  if (tensors.empty()) return;
  const auto device = tensors.front().value.device();
  for (const auto& t : tensors) {
    TORCH_CHECK(adamw_kernel_applies(t.value, t.grad, t.exp_avg, t.exp_avg_sq) && t.value.device() == device,
                "adamw_steps: blt's AdamW kernel takes contiguous float32 CUDA tensors of one size, the gradient "
                "float32 or bf16, all on one device (and a build with it)");
    TORCH_CHECK(!t.copy.defined() || (t.copy.scalar_type() == torch::kBFloat16 && t.copy.is_contiguous() &&
                                      t.copy.numel() == t.value.numel() && t.copy.device() == device),
                "adamw_steps: a compute copy must be a contiguous bf16 tensor of its value's size on its device");
  }
#ifdef BLT_WITH_CUDA_KERNELS
  const c10::cuda::CUDAGuard guard(device);
  const double decay = step_scalars(h).decay;
  std::vector<cuda::AdamWTensor> plan;
  for (const auto& t : tensors) {
    if (t.value.numel() == 0) continue;
    plan.push_back({t.value.data_ptr<float>(), t.grad.data_ptr(), t.exp_avg.data_ptr<float>(),
                    t.exp_avg_sq.data_ptr<float>(), t.copy.defined() ? t.copy.data_ptr() : nullptr, t.value.numel(),
                    t.decays ? static_cast<float>(decay) : 1.0f, t.grad.scalar_type() == torch::kBFloat16, 0, 0});
  }
  if (plan.empty()) return;
  const int64_t chunks = cuda::plan_adamw(plan.data(), static_cast<int64_t>(plan.size()));
  // The table goes to the device from pinned memory, queued on the step's stream: no host wait,
  // and LibTorch's host allocator keeps the pinned block until the copy has run.
  const int64_t bytes = static_cast<int64_t>(plan.size() * sizeof(cuda::AdamWTensor));
  auto host = torch::empty({bytes}, torch::TensorOptions().dtype(torch::kByte).pinned_memory(true));
  std::memcpy(host.data_ptr(), plan.data(), static_cast<std::size_t>(bytes));
  const auto table = host.to(device, /*non_blocking=*/true);
  const ClipSkip flags(clip, skip, device);
  cuda::adamw(static_cast<const cuda::AdamWTensor*>(table.data_ptr()), static_cast<int64_t>(plan.size()), chunks,
              kernel_scalars(h), flags.clip_ptr(), flags.skip_ptr(), stream_of(tensors.front().value));
#else
  (void)h, (void)clip, (void)skip;
#endif
}

bool table_kernels_apply(const torch::Tensor& value, const torch::Tensor& exp_avg, const torch::Tensor& exp_avg_sq) {
  if (!cuda_kernels_built() || !value.is_cuda() || value.dim() < 1 || value.scalar_type() != torch::kFloat ||
      !value.is_contiguous())
    return false;
  const auto moments = exp_avg.scalar_type();
  if (moments != torch::kFloat && moments != torch::kBFloat16) return false;
  for (const auto* t : {&exp_avg, &exp_avg_sq})
    if (t->scalar_type() != moments || !t->is_contiguous() || t->numel() != value.numel() ||
        t->device() != value.device())
      return false;
  return true;
}

void adamw_catch_up(torch::Tensor& value, torch::Tensor& exp_avg, torch::Tensor& exp_avg_sq, const torch::Tensor& rows,
                    const torch::Tensor& last, const torch::Tensor& history, int64_t through, const AdamWHyper& h,
                    bool decays) {
  TORCH_CHECK(table_kernels_apply(value, exp_avg, exp_avg_sq),
              "adamw_catch_up: a contiguous float32 CUDA table, float32 or bf16 moments of its size (and a build with "
              "blt's kernels)");
  TORCH_CHECK(rows.scalar_type() == torch::kLong && last.scalar_type() == torch::kInt &&
                  history.scalar_type() == torch::kDouble && rows.device() == value.device() &&
                  last.device() == value.device() && history.device() == value.device() && history.is_contiguous() &&
                  last.is_contiguous() && history.size(0) > through,
              "adamw_catch_up: rows int64, last int32, history float64 covering the steps, all on the table's device");
#ifdef BLT_WITH_CUDA_KERNELS
  const c10::cuda::CUDAGuard guard(value.device());
  const auto sorted = rows.contiguous();
  cuda::adamw_catch_up(value.data_ptr<float>(), exp_avg.data_ptr(), exp_avg_sq.data_ptr(), dtype_of(exp_avg),
                       value.numel() / value.size(0), sorted.data_ptr<int64_t>(), sorted.numel(),
                       last.data_ptr<int32_t>(), history.data_ptr<double>(), through, static_cast<float>(h.beta1),
                       static_cast<float>(h.beta2), static_cast<float>(h.eps), decays, stream_of(value));
#else
  (void)rows, (void)last, (void)history, (void)through, (void)h, (void)decays;
#endif
}

bool adamw_rows_kernel_applies(const torch::Tensor& value, const torch::Tensor& exp_avg,
                               const torch::Tensor& exp_avg_sq, const torch::Tensor& sparse_grad) {
  return sparse_grad.is_sparse() && sparse_grad.sparse_dim() == 1 && sparse_grad.scalar_type() == torch::kFloat &&
         sparse_grad.device() == value.device() && table_kernels_apply(value, exp_avg, exp_avg_sq);
}

SortedRows sort_rows(const torch::Tensor& sparse_grad) {
  TORCH_CHECK(cuda_kernels_built() && sparse_grad.is_cuda() && sparse_grad.is_sparse() &&
                  sparse_grad.sparse_dim() == 1 && sparse_grad.scalar_type() == torch::kFloat,
              "sort_rows: a float32 sparse COO gradient over rows on CUDA (and a build with blt's kernels)");
  // _indices/_values: indices() and values() refuse an uncoalesced tensor.
  const auto entries = sparse_grad._indices().select(0, 0);
  const auto values = sparse_grad._values().contiguous();
  auto sorted = entries.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false);
  const auto& rows = std::get<0>(sorted);
  const auto& order = std::get<1>(sorted);
  const int64_t count = rows.numel();
  auto pieces = torch::empty_like(values);
#ifdef BLT_WITH_CUDA_KERNELS
  const c10::cuda::CUDAGuard guard(values.device());
  cuda::sum_row_pieces(values.data_ptr<float>(), rows.data_ptr<int64_t>(), order.data_ptr<int64_t>(), count,
                       count > 0 ? values.numel() / count : 0, pieces.data_ptr<float>(), stream_of(values));
#else
  (void)order, (void)count;
#endif
  return {rows, pieces};
}

torch::Tensor rows_squared_norm(const SortedRows& grad) {
  const int64_t count = grad.rows.numel();
  auto partial = torch::zeros({count}, grad.pieces.options());
#ifdef BLT_WITH_CUDA_KERNELS
  const c10::cuda::CUDAGuard guard(grad.pieces.device());
  cuda::rows_squared_norm(grad.pieces.data_ptr<float>(), grad.rows.data_ptr<int64_t>(), count,
                          count > 0 ? grad.pieces.numel() / count : 0, partial.data_ptr<float>(),
                          stream_of(grad.pieces));
#endif
  return partial.sum(torch::kDouble);
}

void adamw_rows(torch::Tensor& value, torch::Tensor& exp_avg, torch::Tensor& exp_avg_sq, const SortedRows& grad,
                const torch::Tensor& last, const torch::Tensor& history, const AdamWHyper& h, bool decays,
                const torch::Tensor& clip, const torch::Tensor& skip) {
  TORCH_CHECK(table_kernels_apply(value, exp_avg, exp_avg_sq) && grad.pieces.scalar_type() == torch::kFloat &&
                  grad.pieces.device() == value.device() &&
                  grad.pieces.numel() == grad.rows.numel() * (value.numel() / value.size(0)),
              "adamw_rows: a contiguous float32 CUDA table (float32 or bf16 moments) and float32 gradient rows of its "
              "width on its device");
  TORCH_CHECK(last.scalar_type() == torch::kInt && history.scalar_type() == torch::kDouble &&
                  last.device() == value.device() && history.device() == value.device() && history.is_contiguous() &&
                  last.is_contiguous() && history.size(0) > h.step,
              "adamw_rows: last int32, history float64 covering the steps, both on the table's device");
#ifdef BLT_WITH_CUDA_KERNELS
  const c10::cuda::CUDAGuard guard(value.device());
  const ClipSkip flags(clip, skip, value.device());
  cuda::adamw_rows(value.data_ptr<float>(), exp_avg.data_ptr(), exp_avg_sq.data_ptr(), dtype_of(exp_avg),
                   value.numel() / value.size(0), grad.rows.data_ptr<int64_t>(), grad.rows.numel(),
                   grad.pieces.data_ptr<float>(), last.data_ptr<int32_t>(), history.data_ptr<double>(), h.step,
                   kernel_scalars(h), decays, flags.clip_ptr(), flags.skip_ptr(), stream_of(value));
#else
  (void)last, (void)history, (void)h, (void)decays, (void)clip, (void)skip;
#endif
}

}  // namespace blt::kernels
