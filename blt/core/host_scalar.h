// A device scalar's value on its way to the host. The copy is queued behind the work that
// computes the scalar, and value() waits for that copy alone, not for the work queued after
// it: the host learns a number the device computed early (a batch's patch count, which sizes
// the global model) without draining the device's queue, so the device does not idle while
// the host catches up (docs/perf.md, "Host synchronisation in a step").
#pragma once
#include <cstdint>
#include <memory>

#include <torch/torch.h>

namespace blt {

class HostScalar {
 public:
  HostScalar() = default;
  // Queues the copy of `scalar` (one element, on any device) on the device's current stream.
  explicit HostScalar(const torch::Tensor& scalar);
  // The scalar's value when the copy was queued; waits for the copy only.
  int64_t to_int() const;

 private:
  struct Copied;
  torch::Tensor host_;
  std::shared_ptr<Copied> copied_;  // the copy's CUDA event; null for a scalar on the CPU
};

}  // namespace blt
