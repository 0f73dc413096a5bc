#include "blt/kernels/adamw_step.h"

#include <cmath>

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
  for (const auto* t : {&value, &grad, &exp_avg, &exp_avg_sq})
    if (t->scalar_type() != torch::kFloat || !t->is_contiguous() || t->numel() != value.numel() ||
        t->device() != value.device())
      return false;
  return true;
}

AdamWStepScalars step_scalars(const AdamWHyper& h) {
  const double bias1 = 1.0 - std::pow(h.beta1, double(h.step)), bias2 = 1.0 - std::pow(h.beta2, double(h.step));
  return {1.0 - h.lr * h.weight_decay, h.lr / bias1, std::sqrt(bias2)};
}

void adamw_step(torch::Tensor& value, const torch::Tensor& grad, torch::Tensor& exp_avg, torch::Tensor& exp_avg_sq,
                const AdamWHyper& h, const torch::Tensor& clip, const torch::Tensor& skip) {
  TORCH_CHECK(adamw_kernel_applies(value, grad, exp_avg, exp_avg_sq),
              "adamw_step: blt's AdamW kernel takes contiguous float32 CUDA tensors of one size (and a build with it)");
#ifdef BLT_WITH_CUDA_KERNELS
  const c10::cuda::CUDAGuard guard(value.device());
  const auto d = step_scalars(h);
  const cuda::AdamWScalars s{static_cast<float>(h.beta1),      static_cast<float>(h.beta2),
                             static_cast<float>(h.eps),        static_cast<float>(d.decay),
                             static_cast<float>(d.step_size), static_cast<float>(d.bias2_sqrt)};
  const auto clip32 = clip.defined() ? clip.to(value.device(), torch::kFloat).contiguous() : torch::Tensor();
  const auto skip_flag = skip.defined() ? skip.to(value.device(), torch::kBool).contiguous() : torch::Tensor();
  cuda::adamw(value.data_ptr<float>(), grad.data_ptr<float>(), exp_avg.data_ptr<float>(), exp_avg_sq.data_ptr<float>(),
              value.numel(), s, clip32.defined() ? clip32.data_ptr<float>() : nullptr,
              skip_flag.defined() ? skip_flag.data_ptr<bool>() : nullptr,
              c10::cuda::getCurrentCUDAStream(value.device().index()).stream());
#else
  (void)h, (void)clip, (void)skip;
#endif
}

void adamw_catch_up(torch::Tensor& value, torch::Tensor& exp_avg, torch::Tensor& exp_avg_sq, const torch::Tensor& rows,
                    const torch::Tensor& last, const torch::Tensor& history, int64_t through, const AdamWHyper& h,
                    bool decays) {
  TORCH_CHECK(adamw_kernel_applies(value, value, exp_avg, exp_avg_sq) && value.dim() >= 1,
              "adamw_catch_up: blt's AdamW kernel takes contiguous float32 CUDA tables of one size (and a build with it)");
  TORCH_CHECK(rows.scalar_type() == torch::kLong && last.scalar_type() == torch::kInt &&
                  history.scalar_type() == torch::kDouble && rows.device() == value.device() &&
                  last.device() == value.device() && history.device() == value.device() && history.is_contiguous() &&
                  last.is_contiguous() && history.size(0) > through,
              "adamw_catch_up: rows int64, last int32, history float64 covering the steps, all on the table's device");
#ifdef BLT_WITH_CUDA_KERNELS
  const c10::cuda::CUDAGuard guard(value.device());
  const auto sorted = rows.contiguous();
  cuda::adamw_catch_up(value.data_ptr<float>(), exp_avg.data_ptr<float>(), exp_avg_sq.data_ptr<float>(),
                       value.numel() / value.size(0), sorted.data_ptr<int64_t>(), sorted.numel(),
                       last.data_ptr<int32_t>(), history.data_ptr<double>(), through, static_cast<float>(h.beta1),
                       static_cast<float>(h.beta2), static_cast<float>(h.eps), decays,
                       c10::cuda::getCurrentCUDAStream(value.device().index()).stream());
#else
  (void)rows, (void)last, (void)history, (void)through, (void)h, (void)decays;
#endif
}

}  // namespace blt::kernels
