#include "blt/core/host_scalar.h"

#ifdef BLT_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include "blt/core/error.h"

namespace blt {

struct HostScalar::Copied {
#ifdef BLT_WITH_CUDA
  at::cuda::CUDAEvent event;
#endif
};

HostScalar::HostScalar(const torch::Tensor& scalar) {
  if (scalar.numel() != 1) fail("HostScalar: a tensor of {} elements is not a scalar", scalar.numel());
  if (!scalar.is_cuda()) {
    host_ = scalar.reshape({}).clone();  // the CPU computed it already
    return;
  }
#ifdef BLT_WITH_CUDA
  // Pinned memory: a device-to-host copy into pageable memory would make the host wait.
  host_ = torch::empty({}, scalar.options().device(torch::kCPU).pinned_memory(true));
  host_.copy_(scalar.reshape({}), /*non_blocking=*/true);
  copied_ = std::make_shared<Copied>();
  copied_->event.record(c10::cuda::getCurrentCUDAStream(scalar.device().index()));
#else
  fail("HostScalar: a CUDA tensor in a build without CUDA");
#endif
}

int64_t HostScalar::to_int() const {
  if (!host_.defined()) fail("HostScalar: no value (default-constructed)");
#ifdef BLT_WITH_CUDA
  if (copied_) copied_->event.synchronize();
#endif
  return host_.item<int64_t>();
}

}  // namespace blt
