// dist.reduce_dtype bfloat16 on two Gloo ranks in this process: ddp's buckets (parallel/grad_sync)
// and the sharded units' reduce-scatter (parallel/sharded_unit) sum the gradients in bf16, and the
// sum is the ranks' float64 gradients added, within bf16's rounding.
#include "blt/parallel/grad_sync.h"
#include "blt/parallel/sharded_unit.h"

#include "gloo_ranks.h"
#include "helpers.h"

using blt::parallel::Comm;
using blt::test::on_ranks;

namespace {

// Two float64 parameters with a gradient of mixed magnitudes per rank (no random numbers: the
// ranks are threads, which would share LibTorch's generator).
std::vector<torch::Tensor> make_params() {
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  return {torch::zeros({5, 7}, f64).requires_grad_(true), torch::zeros({11}, f64).requires_grad_(true)};
}
torch::Tensor gradient_of(int rank, const torch::Tensor& p) {
  const auto i = torch::arange(p.numel(), p.options()).view(p.sizes());
  return (i * 0.37 + rank).sin() * torch::pow(10.0, (i + rank).fmod(5) - 2);
}

// How far a bf16 sum of g0 and g1 may be from their exact sum. bf16 keeps 8 significant bits (7
// stored and the implicit one), so rounding to it errs by at most u = 2^-8 relative (half its
// spacing 2^-7 at 1). Each gradient is rounded (u |g0|, u |g1|), then their sum (u (1 + u) (|g0| + |g1|)):
// |bf16 sum - (g0 + g1)| <= 2u (1 + u/2) (|g0| + |g1|), the factor 1.01 covering u/2. Summing in
// float64 instead differs from g0 + g1 only by float64 rounding, ~1e-16 relative.
torch::Tensor bf16_sum_bound(const torch::Tensor& g0, const torch::Tensor& g1) {
  return (g0.abs() + g1.abs()) * (1.01 * std::pow(2.0, -7));
}

// Whether every element is a bf16 value (what a bf16 sum gives; float64 sums of these gradients are not).
bool bf16_values(const torch::Tensor& t) {
  return torch::equal(t.to(torch::kDouble), t.to(torch::kBFloat16).to(torch::kDouble));
}

}  // namespace

TEST_CASE("reduce dtype: ddp's buckets sum gradients in bf16 within bf16's rounding", "[dist][gloo]") {
  const int world = 2;
  std::vector<std::vector<torch::Tensor>> summed(world);
  on_ranks(world, 29614, [&](Comm& comm) {
    const auto params = make_params();
    std::vector<blt::parallel::GradSync::Param> synced;
    for (std::size_t i = 0; i < params.size(); ++i) synced.push_back({"p" + std::to_string(i), params[i], false});
    blt::parallel::GradSync sync(synced, comm, torch::kBFloat16);
    for (const auto& p : params) p.mutable_grad() = gradient_of(comm.rank(), p);
    sync.all_reduce_grads();
    for (const auto& p : params) summed[comm.rank()].push_back(p.grad().clone());
  });
  const auto params = make_params();
  for (int r = 0; r < world; ++r)
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto& got = summed[r][i];
      const auto g0 = gradient_of(0, params[i]), g1 = gradient_of(1, params[i]);
      CHECK(got.scalar_type() == torch::kBFloat16);  // AdamW reads the bf16 sum as it is
      CHECK(got.sizes() == params[i].sizes());
      CHECK(bf16_values(got));
      CHECK(((got.to(torch::kDouble) - (g0 + g1)).abs() <= bf16_sum_bound(g0, g1)).all().item<bool>());
      CHECK(torch::equal(got, summed[0][i]));  // every rank holds the same sum
    }
}

TEST_CASE("reduce dtype: zero2/fsdp units reduce-scatter gradients in bf16 into float chunks", "[dist][gloo]") {
  const int world = 2;
  std::vector<torch::Tensor> chunks(world);
  on_ranks(world, 29615, [&](Comm& comm) {
    const auto params = make_params();
    blt::parallel::ParamUnit unit{"rest", {{"p0", params[0]}, {"p1", params[1]}}};
    blt::parallel::ShardedUnit sharded(unit, {}, comm, /*kept_whole=*/true, torch::kBFloat16);
    for (const auto& p : params) p.mutable_grad() = gradient_of(comm.rank(), p);
    sharded.reduce_scatter_grads();
    chunks[comm.rank()] = sharded.grad().clone();
  });
  // The whole space, as the ranks' chunks concatenate it: float64 (the master dtype), bf16 values.
  const auto got = torch::cat(chunks);
  REQUIRE(got.scalar_type() == torch::kDouble);
  const auto params = make_params();
  std::vector<torch::Tensor> g0, g1;
  for (const auto& p : params) {
    g0.push_back(gradient_of(0, p).reshape({-1}));
    g1.push_back(gradient_of(1, p).reshape({-1}));
  }
  const auto flat0 = torch::cat(g0), flat1 = torch::cat(g1);
  const int64_t n = flat0.numel();  // the rest of the space is padding to a multiple of the ranks: zero
  CHECK(bf16_values(got));
  CHECK(((got.narrow(0, 0, n) - (flat0 + flat1)).abs() <= bf16_sum_bound(flat0, flat1)).all().item<bool>());
  CHECK((got.narrow(0, n, got.numel() - n) == 0).all().item<bool>());
}
