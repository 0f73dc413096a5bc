#include "blt/parallel/comm.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#ifdef BLT_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "blt/core/error.h"

namespace blt::parallel {

Comm::Comm(const LaunchEnv& env, const torch::Device& device, std::chrono::milliseconds timeout)
    : rank_(env.rank), world_size_(env.world_size), timeout_(timeout), device_(device) {
  if (world_size_ == 1) return;
  // Joining waits for every rank: at the store (rank 0 serves it at MASTER_ADDR:MASTER_PORT, or
  // torchrun's agent does) and in the backend's connection mesh. c10d reports a peer that never came
  // only as "Socket Timeout" or a connect timeout; say what was awaited and which setting bounds it.
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(env.master_port);
    store_options.isServer = env.rank == 0 && !env.agent_store;
    store_options.numWorkers = env.world_size;
    store_options.timeout = timeout;
    store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_options);
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>(fmt::format("blt/attempt_{}", env.restart_count), store_);
    if (device.is_cuda()) {
#ifdef USE_C10D_NCCL
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      backend_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, rank_, world_size_, options);
      backend_name_ = "nccl";
      native_flat_ = true;
#else
      fail("this blt was built without NCCL; CUDA training across processes needs it");
#endif
    } else {
#ifdef BLT_WITH_GLOO
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(env.master_addr));
      backend_ = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank_, world_size_, options);
      backend_name_ = "gloo";
      native_flat_ = compat::kGlooHasFlatCollectives;
#else
      fail("this blt was built without Gloo (its LibTorch ships no gloo headers), so CPU ranks cannot "
           "communicate; train on CUDA (NCCL) or build where gloo's headers exist (docs/gpu.md)");
#endif
    }
  } catch (const blt::Error&) {
    throw;
  } catch (const std::exception& e) {
    fail("rank {} of world size {}: joining the other ranks at {}:{} failed within dist.timeout_s = {} s (every rank "
         "must start within that time, with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE, and reach rank 0 "
         "there): {}",
         env.rank, env.world_size, env.master_addr, env.master_port, timeout.count() / 1000, e.what());
  }
}

void Comm::wait(const c10::intrusive_ptr<compat::CommWork>& work) {
  if (!work) return;  // finished when it was started
  try {
    // NCCL: wait() without a timeout only makes the current stream wait for the
    // collective (given a timeout, it blocks the host until the collective is
    // done); the process group's watchdog still ends a collective that exceeds
    // dist.timeout_s. Gloo's wait blocks the host either way.
    const bool done = backend_name_ == "nccl" ? work->wait() : work->wait(timeout_);
    if (!done) fail("rank {}: a collective did not finish within {} s", rank_, timeout_.count() / 1000);
  } catch (const blt::Error&) {
    throw;
  } catch (const std::exception& e) {
    fail("rank {}: collective failed (a peer died or timed out after {} s): {}", rank_, timeout_.count() / 1000,
         e.what());
  }
}

c10::intrusive_ptr<compat::CommWork> Comm::all_reduce_sum_async(torch::Tensor& t) {
  if (t.scalar_type() == torch::kBFloat16 && backend_name_ == "gloo") {
    // Gloo has no bf16 sums (LibTorch 1.13's fails with "Invalid scalar type"): sum in float32 and
    // round once, which for two ranks is what a bf16 sum gives (each addition in float, rounded to
    // bf16) and for more is nearer the exact sum. Gloo's wait blocks anyway: done here.
    auto wide = t.to(torch::kFloat);
    wait(all_reduce_sum_async(wide));
    t.copy_(wide);
    return {};
  }
  std::vector<torch::Tensor> tensors{t};
  c10d::AllreduceOptions options;
  options.reduceOp = c10d::ReduceOp::SUM;
  return backend_->allreduce(tensors, options);
}

template <class Op>
void Comm::on_device(torch::Tensor& t, Op op) {
  if (t.device() == device_ && t.is_contiguous()) {
    op(t);
    return;
  }
  auto staged = t.to(device_).contiguous();
  op(staged);
  t.copy_(staged);
}

void Comm::all_reduce_sum_(torch::Tensor& t) {
  if (!distributed()) return;
  on_device(t, [&](torch::Tensor& x) { wait(all_reduce_sum_async(x)); });
}

void Comm::all_reduce_max_(torch::Tensor& t) {
  if (!distributed()) return;
  on_device(t, [&](torch::Tensor& x) {
    std::vector<torch::Tensor> tensors{x};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::MAX;
    wait(backend_->allreduce(tensors, options));
  });
}

void Comm::broadcast_(torch::Tensor& t, int root) {
  if (!distributed()) return;
  on_device(t, [&](torch::Tensor& x) {
    std::vector<torch::Tensor> tensors{x};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    wait(backend_->broadcast(tensors, options));
  });
}

torch::Tensor Comm::reduce_scatter_sum(const torch::Tensor& flat) {
  auto pending = start_reduce_scatter_sum(flat);
  return finish_reduce_scatter(pending);
}

Comm::PendingReduce Comm::start_reduce_scatter_sum(const torch::Tensor& flat) {
  if (flat.numel() % world_size_ != 0)
    fail("reduce_scatter: {} elements do not split over {} ranks", flat.numel(), world_size_);
  const int64_t n = flat.numel() / world_size_;
  PendingReduce pending;
  if (!distributed()) {
    pending.out = flat.clone();
    return pending;
  }
  if (native_flat_) {
    pending.input = flat.contiguous();
    pending.out = torch::empty({n}, flat.options());
    c10d::ReduceScatterOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    pending.work = backend_->_reduce_scatter_base(pending.out, pending.input, options);
    return pending;
  }
  // Same result through an all-reduce: each rank keeps its chunk of the sum (Gloo: done here).
  auto sum = flat.contiguous().clone();
  all_reduce_sum_(sum);
  pending.out = sum.narrow(0, rank_ * n, n).clone();
  return pending;
}

torch::Tensor Comm::finish_reduce_scatter(PendingReduce& pending) {
  wait(pending.work);
  pending.work.reset();
  pending.input = torch::Tensor();
  return pending.out;
}

torch::Tensor Comm::all_gather(const torch::Tensor& chunk) {
  auto out = torch::empty({chunk.numel() * world_size_}, chunk.options());
  all_gather_into(out, chunk);
  return out;
}

void Comm::all_gather_into(torch::Tensor& out, const torch::Tensor& chunk) {
  auto pending = start_all_gather_into(out, chunk);
  finish_all_gather(pending);
}

Comm::PendingGather Comm::start_all_gather_into(torch::Tensor& out, const torch::Tensor& chunk) {
  if (out.numel() != chunk.numel() * world_size_ || !out.is_contiguous())
    fail("all_gather: output of {} elements for {} ranks of {}", out.numel(), world_size_, chunk.numel());
  PendingGather pending;
  pending.out = out;
  auto input = chunk.contiguous().view({-1});
  if (!distributed()) {
    out.view({-1}).copy_(input);
    return pending;
  }
  if (native_flat_) {
    pending.work = backend_->_allgather_base(out, input);
    return pending;
  }
  std::vector<std::vector<torch::Tensor>> outputs(1);
  for (int r = 0; r < world_size_; ++r) outputs[0].push_back(torch::empty_like(input));
  std::vector<torch::Tensor> inputs{input};
  pending.work = backend_->allgather(outputs, inputs);
  pending.pieces = outputs[0];
  return pending;
}

void Comm::finish_all_gather(PendingGather& pending) {
  if (!pending.work) return;
  wait(pending.work);
  pending.work.reset();
  if (pending.pieces.empty()) return;
  auto flat = pending.out.view({-1});
  torch::cat_out(flat, pending.pieces);
  pending.pieces.clear();
}

void Comm::barrier() {
  if (!distributed()) return;
  // A tiny all-reduce: unlike c10d's barrier it takes our timeout and needs no device guess.
  // A host tensor, so that the copy back makes this thread wait (NCCL's wait does not).
  auto t = torch::zeros({1});
  all_reduce_sum_(t);
}

}  // namespace blt::parallel
