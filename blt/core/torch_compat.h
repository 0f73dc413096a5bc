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
#ifdef BLT_WITH_CUDA
#define BLT_CUDA_BUILD 1
#else
#define BLT_CUDA_BUILD 0
#endif

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

// ---- fused AdamW -------------------------------------------------------------
namespace blt::compat {

// True where at::_fused_adamw_ runs on CUDA tensors: one multi-tensor kernel
// that reads each parameter, gradient and both moments once per step.
constexpr bool kHasFusedAdamW = BLT_TORCH_AT_LEAST(2, 1) && BLT_CUDA_BUILD;

// One AdamW step over same-device, same-dtype lists: decoupled weight decay
// (value *= 1 - lr wd), moments, bias corrections from `step` (a float32
// tensor holding the step number, already counted), value -= lr / bias1 *
// m / (sqrt(v) / sqrt(bias2) + eps). Gradients are divided by `grad_divisor`
// (a float32 device scalar; the inverse of the clip factor) inside the kernel,
// and nothing changes where `skip` (a float32 device scalar, or undefined) is
// non-zero: the kernel reads both on the device. With a divisor the kernel also
// writes the divided gradients back into `grads`.
inline void fused_adamw(at::TensorList values, at::TensorList grads, at::TensorList exp_avgs,
                        at::TensorList exp_avg_sqs, const torch::Tensor& step, double lr, double beta1, double beta2,
                        double weight_decay, double eps, const torch::Tensor& grad_divisor,
                        const torch::Tensor& skip) {
#if BLT_TORCH_AT_LEAST(2, 1) && BLT_CUDA_BUILD
  const std::vector<torch::Tensor> steps(values.size(), step);
  // An undefined tensor inside an optional is not "absent" to the kernel: it reads it.
  const auto given = [](const torch::Tensor& t) { return t.defined() ? c10::optional<at::Tensor>(t) : c10::nullopt; };
  at::_fused_adamw_(values, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps, lr, beta1, beta2,
                    weight_decay, eps, /*amsgrad=*/false, /*maximize=*/false, given(grad_divisor), given(skip));
#else
  (void)values, (void)grads, (void)exp_avgs, (void)exp_avg_sqs, (void)step, (void)lr, (void)beta1, (void)beta2;
  (void)weight_decay, (void)eps, (void)grad_divisor, (void)skip;
  TORCH_CHECK(false, "fused AdamW needs LibTorch >= 2.1 with CUDA");
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

// Whether autocast for `device` (CUDA or CPU) is on now, and to which dtype.
inline AutocastState autocast_state(c10::DeviceType device) {
#if BLT_TORCH_AT_LEAST(2, 4)
  return {at::autocast::is_autocast_enabled(device), at::autocast::get_autocast_dtype(device)};
#else
  if (device == c10::DeviceType::CPU) return {at::autocast::is_cpu_enabled(), at::autocast::get_autocast_cpu_dtype()};
  return {at::autocast::is_enabled(), at::autocast::get_autocast_gpu_dtype()};
#endif
}

inline void set_autocast(c10::DeviceType device, const AutocastState& state) {
#if BLT_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_enabled(device, state.enabled);
  at::autocast::set_autocast_dtype(device, state.dtype);
#else
  if (device == c10::DeviceType::CPU) {
    at::autocast::set_cpu_enabled(state.enabled);
    at::autocast::set_autocast_cpu_dtype(state.dtype);
    return;
  }
  at::autocast::set_enabled(state.enabled);
  at::autocast::set_autocast_gpu_dtype(state.dtype);
#endif
}

inline AutocastState cuda_autocast_state() { return autocast_state(c10::DeviceType::CUDA); }
inline void set_cuda_autocast(const AutocastState& state) { set_autocast(c10::DeviceType::CUDA, state); }

// CUDA autocast for the guard's lifetime, then back to what it was.
class CudaAutocast {
 public:
  // On, to `dtype`, when `enabled`; left as the caller has it otherwise.
  CudaAutocast(bool enabled, at::ScalarType dtype) : CudaAutocast(enabled, AutocastState{true, dtype}) {}
  // Exactly `state`, on or off, whatever the caller runs under (e.g. a model whose arithmetic
  // its config fixes, called from inside another's autocast region).
  explicit CudaAutocast(const AutocastState& state) : CudaAutocast(true, state) {}
  ~CudaAutocast() {
    if (!active_) return;
    set_cuda_autocast(previous_);
    // The outermost region drops its cast weight copies (they belong to this step).
    if (!previous_.enabled) at::autocast::clear_cache();
  }
  CudaAutocast(const CudaAutocast&) = delete;
  CudaAutocast& operator=(const CudaAutocast&) = delete;

 private:
  CudaAutocast(bool active, const AutocastState& state) : active_(active) {
    if (!active_) return;
    previous_ = cuda_autocast_state();
    set_cuda_autocast(state);
  }
  bool active_;
  AutocastState previous_;
};

}  // namespace blt::compat

// ---- attention backends ------------------------------------------------------
namespace blt::compat {

// Generation attends over a key length that grows by one every step. LibTorch >= 2.x may pick
// cuDNN's attention for bf16 on Hopper, which builds (and caches) a graph per new shape: tens
// of milliseconds each, every step (a bf16 blt-1b generation ran 4x slower than fp32). The
// flash and memory-efficient kernels take any length without that cost.
inline void avoid_per_shape_attention_kernels() {
#if BLT_TORCH_AT_LEAST(2, 4)
  at::globalContext().setSDPUseCuDNN(false);
#endif
}

}  // namespace blt::compat

// ---- kernel trace ------------------------------------------------------------
// A Chrome trace of every op and CUDA kernel between start and stop (`blt bench
// --trace`), through Kineto, which LibTorch 2.x CUDA builds carry.
#if BLT_TORCH_AT_LEAST(2, 0) && BLT_CUDA_BUILD
#include <torch/csrc/autograd/profiler_kineto.h>
#endif

namespace blt::compat {

constexpr bool kHasKernelTrace = BLT_TORCH_AT_LEAST(2, 0) && BLT_CUDA_BUILD;

inline void start_kernel_trace() {
#if BLT_TORCH_AT_LEAST(2, 0) && BLT_CUDA_BUILD
  namespace impl = torch::profiler::impl;
  const impl::ProfilerConfig config(impl::ProfilerState::KINETO);
  const std::set<impl::ActivityType> activities{impl::ActivityType::CPU, impl::ActivityType::CUDA};
  torch::autograd::profiler::prepareProfiler(config, activities);
  torch::autograd::profiler::enableProfiler(config, activities);
#else
  TORCH_CHECK(false, "a kernel trace needs LibTorch >= 2.0 with CUDA");
#endif
}

inline void stop_kernel_trace(const std::string& path) {
#if BLT_TORCH_AT_LEAST(2, 0) && BLT_CUDA_BUILD
  torch::autograd::profiler::disableProfiler()->save(path);
#else
  (void)path;
  TORCH_CHECK(false, "a kernel trace needs LibTorch >= 2.0 with CUDA");
#endif
}

}  // namespace blt::compat

// ---- flash attention over packed spans -----------------------------------------
// LibTorch's own FlashAttention-2 kernels, called directly (SDPA takes no windows and
// no sequence offsets): queries, keys and values [T, H, D] of spans packed end to end,
// `offsets` int32 [n + 1] where span i is [offsets[i], offsets[i + 1]), causal within
// each span and limited to the last `window` positions (0 = unlimited). The window
// arguments arrived in LibTorch 2.6; bf16/fp16 on sm80 or newer only.
#if BLT_TORCH_AT_LEAST(2, 6) && BLT_CUDA_BUILD
#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/_flash_attention_backward.h>
#include <ATen/ops/_flash_attention_forward.h>
#endif

namespace blt::compat {

constexpr bool kHasFlashSpans = BLT_TORCH_AT_LEAST(2, 6) && BLT_CUDA_BUILD;

inline bool flash_spans_supported(const torch::Tensor& q) {
#if BLT_TORCH_AT_LEAST(2, 6) && BLT_CUDA_BUILD
  if (!q.is_cuda() || (q.scalar_type() != torch::kBFloat16 && q.scalar_type() != torch::kHalf)) return false;
  const int64_t D = q.size(-1);
  return D % 8 == 0 && D <= 256 && at::cuda::getDeviceProperties(q.device().index())->major >= 8;
#else
  (void)q;
  return false;
#endif
}

// What the backward pass needs besides q, k, v and the output.
struct FlashSpansSaved {
  torch::Tensor logsumexp, rng_state, unused;
};

// FlashAttention's window counts the keys left of the query: i - j <= window_left.
inline c10::optional<int64_t> flash_left_window(int64_t window) {
  return window > 0 ? c10::optional<int64_t>(window - 1) : c10::nullopt;
}

inline std::pair<torch::Tensor, FlashSpansSaved> flash_spans_forward(const torch::Tensor& q, const torch::Tensor& k,
                                                                     const torch::Tensor& v,
                                                                     const torch::Tensor& offsets, int64_t longest,
                                                                     int64_t window, double scale) {
#if BLT_TORCH_AT_LEAST(2, 6) && BLT_CUDA_BUILD
  auto r = at::_flash_attention_forward(q, k, v, offsets, offsets, longest, longest, /*dropout_p=*/0.0,
                                        /*is_causal=*/true, /*return_debug_mask=*/false, scale,
                                        flash_left_window(window),
                                        /*window_size_right=*/0);
  return {std::get<0>(r), FlashSpansSaved{std::get<1>(r), std::get<2>(r), std::get<3>(r)}};
#else
  (void)q, (void)k, (void)v, (void)offsets, (void)longest, (void)window, (void)scale;
  TORCH_CHECK(false, "flash attention over spans needs LibTorch >= 2.6 with CUDA");
#endif
}

// Gradients of q, k, v.
inline std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> flash_spans_backward(
    const torch::Tensor& grad_out, const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
    const torch::Tensor& out, const FlashSpansSaved& saved, const torch::Tensor& offsets, int64_t longest,
    int64_t window, double scale) {
#if BLT_TORCH_AT_LEAST(2, 6) && BLT_CUDA_BUILD
  return at::_flash_attention_backward(grad_out, q, k, v, out, saved.logsumexp, offsets, offsets, longest, longest,
                                       /*dropout_p=*/0.0, /*is_causal=*/true, saved.rng_state, saved.unused, scale,
                                       flash_left_window(window), /*window_size_right=*/0);
#else
  (void)grad_out, (void)q, (void)k, (void)v, (void)out, (void)saved, (void)offsets, (void)longest, (void)window;
  (void)scale;
  TORCH_CHECK(false, "flash attention over spans needs LibTorch >= 2.6 with CUDA");
#endif
}

}  // namespace blt::compat
