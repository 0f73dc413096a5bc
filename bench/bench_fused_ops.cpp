// Times the fused CUDA kernels (blt/kernels/fused_ops.h) against the LibTorch reference code they
// replace, forward + backward, at the shapes of a blt-1b training step (2 x 8192 bytes, patches
// of 4): the local models' rows (16384 x 1024, FFN 2816, 16 heads of 64) and the global model's
// (4096 x 2048, FFN 5632, 16 heads of 128), and one local decoder cross-attention (bytes reading
// the k = 2 vectors of their patch, projections included). Inputs as training sees them under bf16 autocast: the
// residual stream in float32, projections in bf16. Last, the optimizer's row-sparse hash-table step
// (train.optimizer.sparse_hash_rows): gradient norm and AdamW over the rows of blt-1b's 3 M x 1024
// tables that 2 x 8192 bytes look up (6 n-gram sizes), the reference loop against blt's row kernels.
//   bench_fused_ops [--iters 20] [--device cuda]
#include <chrono>
#include <iostream>

#include <fmt/core.h>

#include "blt/core/error.h"
#include "blt/core/torch_compat.h"
#include "blt/kernels/fused_ops.h"
#include "blt/model/cross_attention.h"
#include "blt/model/rms_norm.h"
#include "blt/model/rope.h"
#include "blt/parallel/param_update.h"
#include "blt/train/adamw.h"

namespace {

using blt::kernels::FusedMode;

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

// Mean over `iters` runs after two warm-ups (these kernels take no data-dependent time).
template <typename F>
double time_ms(const torch::Device& device, int iters, F&& f) {
  for (int i = 0; i < 2; ++i) f();
  synchronize(device);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) f();
  synchronize(device);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / iters;
}

// Forward and backward of f(inputs) with a fixed upstream gradient, in the given mode.
template <typename F>
double time_op(FusedMode mode, const torch::Device& device, int iters, F&& f, std::vector<torch::Tensor> inputs) {
  blt::kernels::ScopedFusedMode scoped(mode);
  blt::compat::CudaAutocast autocast(device.is_cuda(), torch::kBFloat16);  // as training runs
  for (auto& t : inputs) t.requires_grad_(true);
  const auto dy = torch::randn_like(f(inputs).detach());
  return time_ms(device, iters, [&] {
    auto y = f(inputs);
    torch::autograd::grad({y}, inputs, {dy});
  });
}

void print_row(const std::string& name, double reference, double fused);

template <typename F>
void row(const std::string& name, const torch::Device& device, int iters, F&& f,
         const std::vector<torch::Tensor>& inputs) {
  const double reference = time_op(FusedMode::kNever, device, iters, f, inputs);
  const double fused = time_op(FusedMode::kAlways, device, iters, f, inputs);
  print_row(name, reference, fused);
}

void print_row(const std::string& name, double reference, double fused) {
  fmt::print("{:<44} {:>10.3f} {:>10.3f} {:>8.2f}x\n", name, reference, fused, reference / fused);
}

// One optimizer step on a hash table's looked-up rows (norm included, as the step computes it
// for clipping), each step a fresh update from the same gradient: half of the lookups from 1000
// hot rows, as frequent n-grams repeat, half anywhere. Every step after the first also catches
// up the rows it holds by one step.
double time_sparse_step(bool fused, const torch::Device& device, int iters, int64_t rows, int64_t dim,
                        int64_t lookups) {
  const auto f32 = torch::TensorOptions().device(device);
  const auto i64 = f32.dtype(torch::kLong);
  const auto hot = torch::rand({lookups}, f32) < 0.5;
  const auto index = torch::where(hot, torch::randint(1000, {lookups}, i64), torch::randint(rows, {lookups}, i64));
  const auto grad = torch::sparse_coo_tensor(index.unsqueeze(0), torch::randn({lookups, dim}, f32) * 1e-3, {rows, dim});
  blt::train::AdamW adamw({{"table", torch::randn({rows, dim}, f32), true}}, blt::train::OptimizerConfig{});
  adamw.set_fused(fused && adamw.fused());
  return time_ms(device, iters, [&] {
    const auto norm = blt::parallel::squared_norm({grad}, device).sqrt();
    adamw.step(1e-3, {grad}, blt::parallel::clip_factor(norm, 1.0));
  });
}

}  // namespace

int main(int argc, char** argv) {
  int iters = 20;
  std::string device_name = "cuda";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--iters" && i + 1 < argc) iters = std::stoi(argv[++i]);
    else if (a == "--device" && i + 1 < argc) device_name = argv[++i];
    else blt::fail("usage: bench_fused_ops [--iters N] [--device cuda|cpu]");
  }
  const torch::Device device(device_name);
  if (device.is_cuda() && !blt::kernels::cuda_kernels_built())
    blt::fail("this blt was built without its CUDA kernels: nothing to compare");
  torch::manual_seed(0);
  const auto f32 = torch::TensorOptions().device(device);
  const auto bf16 = f32.dtype(torch::kBFloat16);
  fmt::print("forward + backward (the optimizer: one step), ms per call ({} iterations, {})\n", iters, device_name);
  fmt::print("{:<44} {:>10} {:>10} {:>9}\n", "operation [shape]", "reference", "fused", "speed-up");
  struct Shape {
    const char* name;
    int64_t rows, dim, ffn, heads, length;
  };
  for (const Shape s : {Shape{"local", 16384, 1024, 2816, 16, 8192}, Shape{"global", 4096, 2048, 5632, 16, 2048}}) {
    // RMSNorm of the float32 residual stream; the next linear layer casts its output to bf16 (the
    // reference's cast is timed here, the fused kernel stores bf16 itself).
    row(fmt::format("rms_norm {} [{} x {}]", s.name, s.rows, s.dim), device, iters,
        [](const std::vector<torch::Tensor>& in) {
          blt::model::RMSNorm norm(in[0].size(-1), 1e-5);
          norm->weight = in[1];
          return norm->forward(in[0]).to(torch::kBFloat16);
        },
        {torch::randn({s.rows, s.dim}, f32), torch::rand({s.dim}, f32) + 0.5});
    row(fmt::format("silu_mul {} [{} x {}]", s.name, s.rows, s.ffn), device, iters,
        [](const std::vector<torch::Tensor>& in) {
          return blt::kernels::use_fused(in[0]) ? blt::kernels::silu_mul(in[0], in[1]) : torch::silu(in[0]) * in[1];
        },
        {torch::randn({s.rows, s.ffn}, bf16), torch::randn({s.rows, s.ffn}, bf16)});
    // q of one attention layer; the table in float32, as the residual stream's type makes it. The
    // reference's float32 result is cast to bf16 by attention under autocast: timed here too.
    const int64_t head_dim = s.dim / s.heads, batch = s.rows / s.length;
    const auto table = blt::model::rope_table(torch::arange(s.length, f32.dtype(torch::kLong)), head_dim, 500000.0,
                                              torch::kFloat);
    row(fmt::format("rope {} [{} x {} x {} x {}]", s.name, batch, s.length, s.heads, head_dim), device, iters,
        [&](const std::vector<torch::Tensor>& in) {
          return blt::model::rope_heads(in[0], table).to(torch::kBFloat16);
        },
        {torch::randn({batch, s.length, s.heads, head_dim}, bf16)});
  }
  // The decoder's cross-attention at blt-1b shapes: 2 x 8192 bytes of 1024, 2048 patches of 4 per
  // sequence, k = 2; the module's code (q/k/v/o projections and norms included, as in training).
  const int64_t batch = 2, length = 8192, patches = 2048, dim = 1024, k = 2;
  const auto patch_ids = torch::arange(length, f32.dtype(torch::kLong)).div(4, "floor").expand({batch, length}).contiguous();
  blt::model::CrossAttention attention(dim, 16, 16, 1e-5);
  attention->to(device);
  row(fmt::format("patch_attention [{} x {} x {}, k {}]", batch, length, dim, k), device, iters,
      [&](const std::vector<torch::Tensor>& in) { return attention->read_patches(in[0], in[1], patch_ids, k); },
      {torch::randn({batch, length, dim}, f32), torch::randn({batch, patches * k, dim}, f32)});
  const int64_t table_rows = 3000012, lookups = batch * length * 6;
  print_row(fmt::format("sparse AdamW [{} of {} x {}]", lookups, table_rows, dim),
            time_sparse_step(false, device, iters, table_rows, dim, lookups),
            time_sparse_step(true, device, iters, table_rows, dim, lookups));
  return 0;
}
