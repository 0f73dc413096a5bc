// The one place that knows which LibTorch we are built against. Debian 12 ships
// LibTorch 1.13 (CPU); the GPU machine has LibTorch 2.x with CUDA. Everything
// version-dependent goes through here.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>
#ifdef BLT_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

#define BLT_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace blt::compat {

// True when at::scaled_dot_product_attention (flash / memory-efficient kernels) exists.
constexpr bool kHasSdpa = BLT_TORCH_AT_LEAST(2, 0);

// softmax(q k^T * scale + mask) v over the last two dims of [..., L, D] tensors.
// `causal` applies a lower-triangular mask; `mask` (optional) is boolean, true =
// attend, broadcastable to [..., Lq, Lk]. Never pass both (callers fold causality
// into the mask when they need a custom one).
inline torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const c10::optional<torch::Tensor>& mask, bool causal, double scale) {
#if BLT_TORCH_AT_LEAST(2, 1)
  return at::scaled_dot_product_attention(q, k, v, mask, /*dropout_p=*/0.0, causal, scale);
#else
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  const auto lq = q.size(-2), lk = k.size(-2);
  if (causal) {
    auto allowed = torch::ones({lq, lk}, q.options().dtype(torch::kBool)).tril(lk - lq);
    scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity());
  }
  if (mask) scores = scores.masked_fill(mask->logical_not(), -std::numeric_limits<double>::infinity());
  // Rows with no allowed key (possible with padding masks) give zeros, not NaN.
  const auto acc = q.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  auto probs = torch::nan_to_num(torch::softmax(scores.to(acc), -1), 0.0).to(v.scalar_type());
  return torch::matmul(probs, v);
#endif
}

// Makes `device` the process's current CUDA device (a no-op for CPU devices).
// Everything that allocates without naming a device (the caching allocator's
// raw allocate(), NCCL communicators, c10d's internal buffers) uses the
// current device, which is GPU 0 unless set: each rank sets its own before its
// first allocation or collective.
inline void set_current_device(const torch::Device& device) {
#ifdef BLT_WITH_CUDA
  if (device.is_cuda()) c10::cuda::set_device(device.index());
#else
  (void)device;
#endif
}

// Peak bytes allocated by the CUDA caching allocator on `device` since the last
// reset (0 without CUDA). Index 0 of the stat arrays is the aggregate over pools
// in every LibTorch version (the enum naming it moved between namespaces).
inline void reset_peak_memory(int device) {
#ifdef BLT_WITH_CUDA
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device));
#else
  (void)device;
#endif
}
inline int64_t peak_memory_bytes(int device) {
#ifdef BLT_WITH_CUDA
  return c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device)).allocated_bytes[0].peak;
#else
  (void)device;
  return 0;
#endif
}

}  // namespace blt::compat

// ---- c10d (distributed) ----------------------------------------------------
// LibTorch 2.x splits a process group into ProcessGroup (front) and Backend
// (Gloo, NCCL); 1.13 has the backends derive from ProcessGroup directly. Both
// expose the same collective calls, so blt holds the backend through this alias.
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#if BLT_TORCH_AT_LEAST(2, 0)
#include <torch/csrc/distributed/c10d/Backend.hpp>
#endif

namespace blt::compat {
#if BLT_TORCH_AT_LEAST(2, 0)
using CommBackend = c10d::Backend;
#else
using CommBackend = c10d::ProcessGroup;
#endif
using CommWork = c10d::Work;
// Gloo in LibTorch 1.13 implements neither reduce-scatter nor the flat all-gather.
constexpr bool kGlooHasFlatCollectives = BLT_TORCH_AT_LEAST(2, 4);
}  // namespace blt::compat

// ---- autocast ----------------------------------------------------------------
#include <ATen/autocast_mode.h>

namespace blt::compat {

struct AutocastState {
  bool enabled = false;
  at::ScalarType dtype = at::kBFloat16;
};

// Whether CUDA autocast is on now, and to which dtype.
inline AutocastState cuda_autocast_state() {
#if BLT_TORCH_AT_LEAST(2, 4)
  return {at::autocast::is_autocast_enabled(at::kCUDA), at::autocast::get_autocast_dtype(at::kCUDA)};
#else
  return {at::autocast::is_enabled(), at::autocast::get_autocast_gpu_dtype()};
#endif
}

// bf16 (or other) autocast on CUDA for the guard's lifetime; a no-op when disabled.
class CudaAutocast {
 public:
  CudaAutocast(bool enabled, at::ScalarType dtype) : enabled_(enabled) {
    if (!enabled_) return;
#if BLT_TORCH_AT_LEAST(2, 4)
    previous_ = at::autocast::is_autocast_enabled(at::kCUDA);
    previous_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, dtype);
#else
    previous_ = at::autocast::is_enabled();
    previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(dtype);
#endif
  }
  ~CudaAutocast() {
    if (!enabled_) return;
#if BLT_TORCH_AT_LEAST(2, 4)
    at::autocast::set_autocast_enabled(at::kCUDA, previous_);
    at::autocast::set_autocast_dtype(at::kCUDA, previous_dtype_);
#else
    at::autocast::set_enabled(previous_);
    at::autocast::set_autocast_gpu_dtype(previous_dtype_);
#endif
    at::autocast::clear_cache();  // drop the casted weight copies of this step
  }
  CudaAutocast(const CudaAutocast&) = delete;
  CudaAutocast& operator=(const CudaAutocast&) = delete;

 private:
  bool enabled_;
  bool previous_ = false;
  at::ScalarType previous_dtype_ = at::kBFloat16;
};

}  // namespace blt::compat
