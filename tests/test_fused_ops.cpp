// The fused operations (blt/kernels/fused_ops.h) against the modules' operator-by-operator
// LibTorch reference: values and gradients of RMSNorm, SwiGLU, the rotary embedding and the local
// decoder's cross-attention, and of a whole tiny BLT. On the CPU the fused path runs the kernels' CPU twins (the same formulas); on a
// GPU, the CUDA kernels.
//
// The criterion, for every comparison: the fused result is no farther from the exact one than
// the reference path of the same precision is. "Exact" is the reference run one precision up
// (float64 for float32 runs, float32 for bf16 storage, float32 without autocast for autocast).
// The fused kernels round fewer times than the reference (one store instead of one per
// operator) but sum in another order, so their error is of the same size, not the same value:
// allowed is twice the reference's error plus 8 unit roundoffs of the precision (u = 2^-24 for
// float32, 2^-8 for bf16), errors measured in units of the exact result's largest magnitude.
#include "blt/core/torch_compat.h"
#include "blt/kernels/fused_ops.h"
#include "blt/model/cross_attention.h"
#include "blt/model/feed_forward.h"
#include "blt/model/rms_norm.h"
#include "blt/model/rope.h"
#include "model_test_util.h"

using namespace blt::model;
using blt::kernels::FusedMode;
using blt::kernels::ScopedFusedMode;

namespace {

// max |x - exact| / (1 + max |exact|): an error on the scale of the result.
double scaled_error(const torch::Tensor& x, const torch::Tensor& exact) {
  const auto e = exact.to(torch::kDouble).cpu();
  return (x.to(torch::kDouble).cpu() - e).abs().max().item<double>() / (1.0 + e.abs().max().item<double>());
}

double unit_roundoff(torch::ScalarType type) { return type == torch::kBFloat16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -24); }

// The output and the gradients of every input of f at `inputs` for the upstream gradient dy.
struct Evaluation {
  std::vector<torch::Tensor> values;  // output, then one gradient per input
};

template <typename F>
Evaluation evaluate(FusedMode mode, F&& f, const std::vector<torch::Tensor>& inputs, const torch::Tensor& dy) {
  ScopedFusedMode scoped(mode);
  std::vector<torch::Tensor> leaves;
  for (const auto& t : inputs) leaves.push_back(t.detach().clone().requires_grad_(true));
  auto y = f(leaves);
  auto grads = torch::autograd::grad({y}, leaves, {dy.to(y.scalar_type())});
  Evaluation out{{y.detach()}};
  for (auto& g : grads) out.values.push_back(g);
  return out;
}

// Runs f fused and by reference in `type`, and by reference one precision up, and applies the
// criterion above to the output and every gradient.
template <typename F>
void check_against_reference(const std::string& what, F&& f, const std::vector<torch::Tensor>& inputs,
                             const torch::Tensor& dy, torch::ScalarType type) {
  const auto exact_type = type == torch::kBFloat16 ? torch::kFloat : torch::kDouble;
  std::vector<torch::Tensor> low, high;
  for (const auto& t : inputs) {
    low.push_back(t.to(type));
    high.push_back(t.to(type).to(exact_type));  // the same (rounded) inputs, computed exactly
  }
  const auto fused = evaluate(FusedMode::kAlways, f, low, dy.to(type));
  const auto reference = evaluate(FusedMode::kNever, f, low, dy.to(type));
  const auto exact = evaluate(FusedMode::kNever, f, high, dy.to(type).to(exact_type));
  const double u = unit_roundoff(type);
  for (std::size_t i = 0; i < exact.values.size(); ++i) {
    INFO(what << " in " << type << (i == 0 ? ": output" : ": gradient of input " + std::to_string(i - 1)));
    REQUIRE(fused.values[i].sizes() == exact.values[i].sizes());
    const double fused_error = scaled_error(fused.values[i], exact.values[i]);
    const double reference_error = scaled_error(reference.values[i], exact.values[i]);
    INFO("fused error " << fused_error << ", reference error " << reference_error);
    CHECK(fused_error <= 2 * reference_error + 8 * u);
  }
}

void check_operations(const torch::Device& device) {
  torch::manual_seed(11);
  const auto options = torch::TensorOptions().device(device);
  // Each operation at two sizes: one a multiple of 8 elements (the grouped accesses of the CUDA
  // RMSNorm and SwiGLU kernels, kernel_common.cuh) and one not (their one-element twins).
  for (const auto type : {torch::kFloat, torch::kBFloat16})
    for (const int64_t odd : {0, 1}) {
      // RMSNorm: rows of 200 or 203 (not a multiple of a warp), scales away from 1.
      const int64_t dim = 200 + 3 * odd;
      const auto x = torch::randn({3, 7, dim}, options) * 3, w = torch::rand({dim}, options) + 0.5;
      check_against_reference(
          "rms_norm",
          [](const std::vector<torch::Tensor>& in) {
            RMSNorm norm(in[0].size(-1), 1e-5);
            norm->weight = in[1];  // the module's code with the given (leaf) weight
            return norm->forward(in[0]);
          },
          {x, w}, torch::randn({3, 7, dim}, options), type);
      // The fused kernel storing a narrower type than it reads (what autocast asks of it).
      if (type == torch::kFloat) {
        const auto y = blt::kernels::rms_norm(x, w, 1e-5, torch::kBFloat16);
        const auto exact = w.to(torch::kDouble) * x.to(torch::kDouble) *
                           torch::rsqrt(x.to(torch::kDouble).pow(2).mean(-1, true) + 1e-5);
        CHECK(y.scalar_type() == torch::kBFloat16);
        CHECK(scaled_error(y, exact) <= 2 * unit_roundoff(torch::kBFloat16));  // one rounding to bf16
      }
      // SwiGLU's gate.
      const int64_t width = 32 + odd;
      const auto g = torch::randn({5, width}, options) * 2, up = torch::randn({5, width}, options);
      check_against_reference(
          "silu_mul",
          [](const std::vector<torch::Tensor>& in) {
            return blt::kernels::use_fused(in[0]) ? blt::kernels::silu_mul(in[0], in[1]) : torch::silu(in[0]) * in[1];
          },
          {g, up}, torch::randn({5, width}, options), type);
      // The rotary embedding, as attention applies it: [B, L, H, D] in, [B, H, L, D] out.
      const int64_t L = 9, D = odd ? 6 : 16;
      const auto positions = torch::arange(L, options.dtype(torch::kLong));
      const auto q = torch::randn({2, L, 3, D}, options);
      check_against_reference(
          "rope",
          [&](const std::vector<torch::Tensor>& in) {
            return rope_heads(in[0], rope_table(positions, D, 10000.0, in[0].scalar_type()));
          },
          {q}, torch::randn({2, 3, L, D}, options), type);
      // The decoder's cross-attention (the module, projections included): 2 sequences of 7 bytes
      // reading k = 2 vectors of one of 4 patches; heads of 16. Its weights are rounded to bf16
      // first, so that the exact run starts from the very weights of the bf16 one. Patch ids in
      // order, as the model makes them, and (odd) out of order with a patch that no byte reads:
      // the CUDA backward sorts the bytes by patch, and must give that patch zero gradients.
      const auto ids = (odd ? torch::tensor({3, 0, 3, 1, 1, 0, 3, 1, 2, 0, 2, 2, 1, 0}, options.dtype(torch::kLong))
                            : torch::tensor({0, 0, 1, 1, 1, 2, 3, 0, 1, 1, 2, 3, 3, 3}, options.dtype(torch::kLong)))
                           .view({2, 7});
      check_against_reference(
          "patch_attention",
          [&](const std::vector<torch::Tensor>& in) {
            torch::manual_seed(3);
            CrossAttention attention(48, 3, 3, 1e-5);
            attention->to(torch::kBFloat16);
            attention->to(in[0].device(), in[0].scalar_type());
            return attention->read_patches(in[0], in[1], ids, 2);
          },
          {torch::randn({2, 7, 48}, options), torch::randn({2, 8, 48}, options)}, torch::randn({2, 7, 48}, options),
          type);
    }
}

// A tiny BLT's loss and gradients (all of them, as one vector) for one batch.
struct ModelRun {
  double loss;
  torch::Tensor grads;
};

ModelRun run_tiny_blt(FusedMode mode, const torch::Device& device, torch::ScalarType type, bool autocast) {
  ScopedFusedMode scoped(mode);
  torch::manual_seed(8);
  auto model = build_model(blt::test::load_model_preset("tiny"));
  model->to(device, type);
  model->train();
  auto gen = at::detail::createCPUGenerator(29);
  const auto tokens = blt::test::random_tokens(2, 97, gen).to(device);
  const auto inputs = tokens.narrow(1, 0, 96), targets = tokens.narrow(1, 1, 96);
  torch::Tensor loss;
  {
    blt::compat::CudaAutocast guard(autocast, torch::kBFloat16);
    const auto logits = model->forward({inputs, {}}).to(type == torch::kDouble ? torch::kDouble : torch::kFloat);
    loss = torch::nn::functional::cross_entropy(logits.reshape({-1, 260}), targets.reshape({-1}));
  }
  loss.backward();
  std::vector<torch::Tensor> grads;
  for (const auto& p : model->parameters()) grads.push_back(p.grad().to(torch::kDouble).cpu().flatten());
  return {loss.item<double>(), torch::cat(grads)};
}

void check_model(const std::string& what, const ModelRun& fused, const ModelRun& reference, const ModelRun& exact,
                 double u) {
  INFO(what);
  const auto norm = exact.grads.norm().item<double>();
  const double fused_error = (fused.grads - exact.grads).norm().item<double>() / norm;
  const double reference_error = (reference.grads - exact.grads).norm().item<double>() / norm;
  INFO("gradients: fused error " << fused_error << ", reference error " << reference_error);
  CHECK(fused_error <= 2 * reference_error + 8 * u);
  const double fused_loss_error = std::abs(fused.loss - exact.loss), reference_loss_error = std::abs(reference.loss - exact.loss);
  INFO("loss: fused error " << fused_loss_error << ", reference error " << reference_loss_error);
  CHECK(fused_loss_error <= 2 * reference_loss_error + 8 * u * exact.loss);
}

}  // namespace

TEST_CASE("fused operations: the CPU twins of the kernels are as accurate as the reference", "[kernels]") {
  check_operations(torch::kCPU);
}

TEST_CASE("fused operations: a tiny BLT trained through the CPU twins matches the reference", "[kernels]") {
  const auto exact = run_tiny_blt(FusedMode::kNever, torch::kCPU, torch::kDouble, false);
  check_model("float32", run_tiny_blt(FusedMode::kAlways, torch::kCPU, torch::kFloat, false),
              run_tiny_blt(FusedMode::kNever, torch::kCPU, torch::kFloat, false), exact, std::ldexp(1.0, -24));
  // The mode decides: never fused means the module code, and auto leaves the CPU on it.
  CHECK_FALSE(blt::kernels::use_fused(torch::zeros({2}, torch::kDouble)));
  ScopedFusedMode never(FusedMode::kNever);
  CHECK_FALSE(blt::kernels::use_fused(torch::zeros({2})));
  blt::kernels::set_fused_mode(FusedMode::kAuto);
  CHECK_FALSE(blt::kernels::use_fused(torch::zeros({2})));
}

TEST_CASE("fused operations: the CUDA kernels are as accurate as the reference (needs CUDA)", "[kernels][cuda]") {
  if (!torch::cuda::is_available()) {
    WARN("no CUDA device: the CUDA kernels are checked on the GPU machine (bench/gpu_checks.sh test)");
    return;
  }
  REQUIRE(blt::kernels::cuda_kernels_built());  // a CUDA build without them would compare the reference with itself
  check_operations(torch::kCUDA);
  // A tiny BLT under bf16 autocast (how training runs), against float32 without autocast.
  const auto exact = run_tiny_blt(FusedMode::kNever, torch::kCUDA, torch::kFloat, false);
  check_model("bf16 autocast", run_tiny_blt(FusedMode::kAuto, torch::kCUDA, torch::kFloat, true),
              run_tiny_blt(FusedMode::kNever, torch::kCUDA, torch::kFloat, true), exact, std::ldexp(1.0, -8));
}

// The decoder cross-attention's backward sums each patch's bytes in one thread, in byte order: the
// same inputs give the same gradients bit for bit, however many bytes a patch has (with atomics,
// 512 bytes adding into one float in whatever order the warps reach it rarely repeat a result).
// Training depends on this to be reproducible, and the CUDA-graph test to compare graphed and eager.
TEST_CASE("fused operations: the decoder cross-attention's gradients repeat bit for bit (needs CUDA)",
          "[kernels][cuda]") {
  if (!torch::cuda::is_available() || !blt::kernels::cuda_kernels_built()) {
    WARN("no CUDA kernels: checked on the GPU machine (bench/gpu_checks.sh test)");
    return;
  }
  torch::manual_seed(5);
  const auto options = torch::TensorOptions().device(torch::kCUDA).dtype(torch::kBFloat16);
  const int64_t B = 2, L = 4096, P = 8, k = 2, H = 4, D = 32;
  const auto ids = torch::arange(L, options.dtype(torch::kLong)).floor_divide(L / P).expand({B, L}).contiguous();
  const auto q = torch::randn({B, L, H, D}, options), keys = torch::randn({B, P, k, H, D}, options),
             values = torch::randn({B, P, k, H, D}, options), dout = torch::randn({B, L, H, D}, options);
  std::vector<torch::Tensor> first;
  for (int run = 0; run < 4; ++run) {
    std::vector<torch::Tensor> leaves{q.clone().requires_grad_(true), keys.clone().requires_grad_(true),
                                      values.clone().requires_grad_(true)};
    const auto out = blt::kernels::patch_attention(leaves[0], leaves[1], leaves[2], ids, 0.125);
    const auto grads = torch::autograd::grad({out}, leaves, {dout});
    if (run == 0) {
      first = grads;
      continue;
    }
    INFO("run " << run);
    for (std::size_t i = 0; i < grads.size(); ++i) CHECK(torch::equal(grads[i], first[i]));
  }
}
