// Collectives for training: a c10d process group (NCCL on CUDA, Gloo on CPU)
// behind the few operations the trainer needs. Every blocking wait has the
// configured timeout, so a dead or hung peer becomes an error, not a hang.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "blt/core/torch_compat.h"
#include "blt/parallel/launch_env.h"

namespace c10d {
class Store;
}

namespace blt::parallel {

class Comm {
 public:
  // One process: every collective is the identity.
  Comm() = default;
  // Joins the job described by `env` over `device`'s backend.
  Comm(const LaunchEnv& env, const torch::Device& device, std::chrono::milliseconds timeout);

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  bool is_main() const { return rank_ == 0; }
  bool distributed() const { return world_size_ > 1; }
  const std::string& backend_name() const { return backend_name_; }

  // Asynchronous: returned work is waited for with wait() (null when it finished at once). `t`
  // must be on device().
  c10::intrusive_ptr<compat::CommWork> all_reduce_sum_async(torch::Tensor& t);
  void wait(const c10::intrusive_ptr<compat::CommWork>& work);

  // The blocking collectives accept tensors on any device (NCCL needs CUDA ones:
  // they are staged through device() and copied back).
  void all_reduce_sum_(torch::Tensor& t);
  void all_reduce_max_(torch::Tensor& t);
  void broadcast_(torch::Tensor& t, int root = 0);
  // flat [world * n] -> this rank's sum-reduced chunk [n].
  torch::Tensor reduce_scatter_sum(const torch::Tensor& flat);
  // reduce_scatter_sum() in two halves, so that work can run while it is in flight (on NCCL
  // finish makes the current stream wait, not the host).
  struct PendingReduce {
    c10::intrusive_ptr<compat::CommWork> work;  // null when there was nothing to wait for
    torch::Tensor input, out;                   // the input stays referenced until finished
  };
  PendingReduce start_reduce_scatter_sum(const torch::Tensor& flat);
  torch::Tensor finish_reduce_scatter(PendingReduce& pending);
  // this rank's chunk [n] -> concatenation of every rank's chunk [world * n].
  torch::Tensor all_gather(const torch::Tensor& chunk);
  // The same into `out` (contiguous, [world * n], same device and dtype as `chunk`).
  void all_gather_into(torch::Tensor& out, const torch::Tensor& chunk);
  // all_gather_into() in two halves, so that work can run while it is in flight.
  struct PendingGather {
    c10::intrusive_ptr<compat::CommWork> work;  // null when there was nothing to wait for
    torch::Tensor out;
    std::vector<torch::Tensor> pieces;  // per-rank outputs, when the backend has no flat all-gather
  };
  PendingGather start_all_gather_into(torch::Tensor& out, const torch::Tensor& chunk);
  void finish_all_gather(PendingGather& pending);
  void barrier();
  const torch::Device& device() const { return device_; }

 private:
  template <class Op>
  void on_device(torch::Tensor& t, Op op);
  int rank_ = 0, world_size_ = 1;
  std::string backend_name_ = "none";
  bool native_flat_ = false;  // backend has reduce-scatter / flat all-gather
  std::chrono::milliseconds timeout_{0};
  torch::Device device_ = torch::kCPU;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<compat::CommBackend> backend_;
};

}  // namespace blt::parallel
