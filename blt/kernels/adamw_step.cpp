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

void adamw_step(torch::Tensor& value, const torch::Tensor& grad, torch::Tensor& exp_avg, torch::Tensor& exp_avg_sq,
                const AdamWHyper& h, const torch::Tensor& clip, const torch::Tensor& skip) {
  TORCH_CHECK(adamw_kernel_applies(value, grad, exp_avg, exp_avg_sq),
              "adamw_step: blt's AdamW kernel takes contiguous float32 CUDA tensors of one size (and a build with it)");
#ifdef BLT_WITH_CUDA_KERNELS
  const c10::cuda::CUDAGuard guard(value.device());
  const double bias1 = 1.0 - std::pow(h.beta1, double(h.step)), bias2 = 1.0 - std::pow(h.beta2, double(h.step));
  const cuda::AdamWScalars s{static_cast<float>(h.beta1),
                             static_cast<float>(h.beta2),
                             static_cast<float>(h.eps),
                             static_cast<float>(1.0 - h.lr * h.weight_decay),
                             static_cast<float>(h.lr / bias1),
                             static_cast<float>(std::sqrt(bias2))};
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

}  // namespace blt::kernels
