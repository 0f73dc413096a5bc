#include <cmath>

#include "blt/core/files.h"
#include "blt/core/torch_compat.h"
#include "blt/data/byte_ids.h"
#include "blt/model/linear.h"
#include "blt/parallel/param_update.h"
#include "blt/train/adamw.h"
#include "blt/train/batch_ahead.h"
#include "blt/train/byte_loss.h"
#include "blt/train/checkpoint_store.h"
#include "blt/train/lr_schedule.h"
#include "helpers.h"
#include "model_test_util.h"
#include "train_test_util.h"

using namespace blt::train;
using blt::test::TempDir;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

TEST_CASE("lr schedule: linear warmup then cosine down to the floor", "[train]") {
  const double peak = 1e-3;
  CHECK(learning_rate(0, 100, peak, 10, 0.1) == Approx(peak / 10));
  CHECK(learning_rate(9, 100, peak, 10, 0.1) == Approx(peak));
  CHECK(learning_rate(10, 100, peak, 10, 0.1) == Approx(peak));
  CHECK(learning_rate(99, 100, peak, 10, 0.1) == Approx(0.1 * peak));
  // Halfway through the decay the cosine is at its midpoint.
  CHECK(learning_rate(10 + 89 / 2.0, 100, peak, 10, 0.1) == Approx(peak * (0.1 + 0.9 * 0.5)).epsilon(0.02));
  for (int64_t s = 11; s < 100; ++s) CHECK(learning_rate(s, 100, peak, 10, 0.1) <= learning_rate(s - 1, 100, peak, 10, 0.1));
  CHECK(learning_rate(0, 1, peak, 0, 0.0) == Approx(peak));
}

TEST_CASE("adamw: matches torch::optim::AdamW step for step", "[train]") {
  torch::manual_seed(3);
  auto a = torch::randn({5, 4}).requires_grad_(true);
  auto b = torch::randn({4}).requires_grad_(true);
  auto a_ref = a.detach().clone().requires_grad_(true);
  auto b_ref = b.detach().clone().requires_grad_(true);
  OptimizerConfig config;
  config.lr = 1e-2;
  config.weight_decay = 0.1;
  AdamW ours({{"a", a, true}, {"b", b, false}}, config);
  torch::optim::AdamW reference_decay({a_ref}, torch::optim::AdamWOptions(1e-2).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.1));
  torch::optim::AdamW reference_plain({b_ref}, torch::optim::AdamWOptions(1e-2).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.0));
  for (int step = 0; step < 5; ++step) {
    const auto x = torch::randn({3, 5});
    const auto loss = (torch::matmul(x, a) + b).pow(2).sum();
    const auto loss_ref = (torch::matmul(x, a_ref) + b_ref).pow(2).sum();
    a.mutable_grad() = torch::Tensor();
    b.mutable_grad() = torch::Tensor();
    reference_decay.zero_grad();
    reference_plain.zero_grad();
    loss.backward();
    loss_ref.backward();
    ours.step(1e-2);
    reference_decay.step();
    reference_plain.step();
    CHECK(torch::allclose(a, a_ref, 1e-6, 1e-7));
    CHECK(torch::allclose(b, b_ref, 1e-6, 1e-7));
  }
  CHECK(ours.steps() == 5);
}

TEST_CASE("adamw: state round trips and mismatches are named", "[train]") {
  auto w = torch::ones({2, 3}).requires_grad_(true);
  OptimizerConfig config;
  AdamW opt({{"w", w, true}}, config);
  w.mutable_grad() = torch::full({2, 3}, 0.5);
  opt.step(0.1);
  const auto state = opt.state();
  auto w2 = torch::ones({2, 3}).requires_grad_(true);
  AdamW again({{"w", w2, true}}, config);
  again.load_state(state, "ckpt");
  CHECK(again.steps() == 1);
  CHECK(torch::equal(again.state().at("exp_avg.w"), state.at("exp_avg.w")));
  auto other = torch::ones({3, 3}).requires_grad_(true);
  AdamW wrong({{"w", other, true}}, config);
  REQUIRE_THROWS_WITH(wrong.load_state(state, "ckpt"), Contains("ckpt: optimizer tensor 'exp_avg.w' has shape [2, 3]"));
  AdamW missing({{"v", other, true}}, config);
  REQUIRE_THROWS_WITH(missing.load_state(state, "ckpt"), Contains("no tensor 'exp_avg.v'"));
}

TEST_CASE("byte loss: BPB counts byte and EOS nats over byte targets", "[train]") {
  using namespace blt::data;
  // Uniform logits: every target costs ln(V) nats.
  const int64_t V = kVocabSize;
  const auto logits = torch::zeros({1, 5, V});
  const auto targets = torch::tensor({kByteOffset + 65, kByteOffset + 66, kEosId, kBosId, kIgnoreId}).view({1, 5});
  const auto out = token_loss(logits, targets);
  const auto sums = LossSums::read(out.stats);
  const double lnv = std::log(double(V));
  CHECK(sums.targets == 4);
  CHECK(sums.nats == Approx(4 * lnv));
  CHECK(sums.text_nats == Approx(3 * lnv));
  CHECK(sums.bytes == 2);
  CHECK(sums.bits_per_byte() == Approx(3 * lnv / std::log(2.0) / 2));
  CHECK(out.loss_sum.item<double>() == Approx(4 * lnv));
}

TEST_CASE("checkpoint store: only complete checkpoints are visible and the newest K are kept", "[train][checkpoint]") {
  TempDir dir;
  CheckpointStore store(dir / "ckpt");
  CHECK_FALSE(store.latest().has_value());
  for (int64_t step : {10, 20, 30}) {
    const auto staging = store.begin(step);
    blt::test::write_file(staging + "/x", std::to_string(step));
    store.publish(step, 2);
  }
  REQUIRE(store.latest().has_value());
  CHECK(fs::path(*store.latest()).filename() == "step-00000030");
  CHECK_FALSE(fs::exists(dir / "ckpt/step-00000010"));
  CHECK(fs::exists(dir / "ckpt/step-00000020"));
  // A crash while writing step 40 (staging left behind) changes nothing visible.
  blt::test::write_file(store.begin(40) + "/x", "partial");
  CHECK(fs::path(*store.latest()).filename() == "step-00000030");
  store.remove_incomplete();
  CHECK_FALSE(fs::exists(store.staging_dir(40)));
  blt::write_file_atomic(dir / "ckpt/latest", "garbage\n");
  REQUIRE_THROWS_WITH(store.latest(), Contains("names 'garbage'"));
}

TEST_CASE("adamw: master weights keep the parameters' dtype (fp64) and a clip tensor scales the gradient", "[train][param-path]") {
  torch::manual_seed(4);
  const auto options = torch::TensorOptions().dtype(torch::kDouble);
  const auto start = torch::randn({3, 4}, options);
  const auto grads = {torch::randn({3, 4}, options), torch::randn({3, 4}, options)};
  OptimizerConfig config;
  auto clipped = start.clone(), prescaled = start.clone();
  AdamW with_clip({{"w", clipped, true}}, config), without({{"w", prescaled, true}}, config);
  CHECK_FALSE(with_clip.fused());  // CPU: the reference path in every LibTorch
  const auto half = torch::full({}, 0.5, options);
  for (const auto& g : grads) {
    with_clip.step(1e-2, {g}, half);
    without.step(1e-2, {g * 0.5});
  }
  CHECK(with_clip.state().at("exp_avg.w").scalar_type() == torch::kDouble);
  CHECK(torch::equal(clipped, prescaled));  // the same multiplication, so bit for bit
  CHECK_FALSE(torch::equal(clipped, start));
  const std::vector<AdamW::Param> integers = {{"i", torch::zeros({2}, torch::kLong), false}};
  REQUIRE_THROWS_WITH(AdamW(integers, config), Contains("parameter 'i' is Long, master weights must be floating point"));
}

namespace {

// Lazy AdamW made exact, on `device` (`fused`: blt's kernels on CUDA, else the reference loop). A
// sparse row gradient updates only the rows it holds; every other row owes the steps it missed,
// where dense AdamW decayed its value and moments with a zero gradient, and takes them when it
// is next read (catch_up_rows before a lookup, its next gradient, catch_up_all): from then on it
// is dense AdamW's row.
void check_sparse_rows(const torch::Device& device, bool fused) {
  torch::manual_seed(9);
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat).device(device);
  const auto i64 = f32.dtype(torch::kLong);
  const auto start = torch::randn({10, 4}, f32);
  OptimizerConfig config;  // weight decay 0.1: a dense update shrinks every row
  auto sparse_table = start.clone(), dense_table = start.clone();
  AdamW sparse({{"t", sparse_table, true}}, config), dense({{"t", dense_table, true}}, config);
  sparse.set_fused(fused && sparse.fused());
  dense.set_fused(fused && dense.fused());
  const auto rows = [&](std::vector<int64_t> index, const torch::Tensor& values) {
    return torch::sparse_coo_tensor(torch::tensor(index, i64).unsqueeze(0), values, {10, 4});
  };
  const auto step = [&](std::vector<int64_t> index, const torch::Tensor& skip = {}) {
    const auto g = rows(index, skip.defined() ? torch::full({int64_t(index.size()), 4}, NAN, f32)
                                              : torch::randn({int64_t(index.size()), 4}, f32));
    sparse.step(1e-2, {g}, {}, skip);
    dense.step(1e-2, {g.to_dense()}, {}, skip);
  };
  const auto pick = [&](const torch::Tensor& t, const std::vector<int64_t>& r) {
    return t.index_select(0, torch::tensor(r, i64));
  };
  // The same float32 operations on the same numbers, step by step; only where the numbers sit in
  // memory differs, which can move an element between a vectorised and a scalar loop (fused
  // multiply-add or not): 1 ulp of |values| < 6 per operation, ~4 operations a step, 16 steps.
  const double tolerance = 16 * 4 * 6.0 * std::ldexp(1.0, -23);
  const auto near = [&](const torch::Tensor& a, const torch::Tensor& b) {
    return (a - b).abs().max().item<double>() <= tolerance;
  };
  // Step 1: rows 1, 3 (three lookups, whose gradients add) and 7 (two), in lookup order, not
  // sorted. Its norm is the dense gradient's (duplicates summed before squaring).
  const auto g1 = rows({7, 3, 1, 3, 3, 7}, torch::randn({6, 4}, f32));
  CHECK(blt::parallel::squared_norm({g1}, device).item<double>() ==
        Approx(blt::parallel::squared_norm({g1.to_dense()}, device).item<double>()).epsilon(1e-6));
  sparse.step(1e-2, {g1});
  dense.step(1e-2, {g1.to_dense()});
  CHECK(near(pick(sparse_table, {1, 3, 7}), pick(dense_table, {1, 3, 7})));
  // Until read, the other rows keep their values and zero moments (the dense rows decayed).
  CHECK(torch::equal(pick(sparse_table, {0, 2, 8}), pick(start, {0, 2, 8})));
  CHECK_FALSE(near(pick(dense_table, {0, 2, 8}), pick(start, {0, 2, 8})));
  // Step 2: rows 3 and 8; row 8 first takes step 1 (decay only: its moments were zero).
  step({3, 8});
  CHECK(near(pick(sparse_table, {3, 8}), pick(dense_table, {3, 8})));
  // A lookup's rows (any shape, repeats) caught up before it reads them: rows 0, 7 and 9 now hold
  // dense AdamW's values; rows 2, 4, 5 and 6, not read, still owe two steps.
  sparse.catch_up_rows(0, torch::tensor({7, 9, 7, 0}, i64).view({2, 2}));
  CHECK(near(pick(sparse_table, {0, 7, 9}), pick(dense_table, {0, 7, 9})));
  CHECK_FALSE(near(pick(sparse_table, {2, 4, 5, 6}), pick(dense_table, {2, 4, 5, 6})));
  // Step 3 is skipped on the device (a non-finite norm): no row takes it, now or when caught up.
  step({2}, torch::ones({}, f32.dtype(torch::kBool)));
  // Then 12 steps that use row 1 only: every other row falls 12 steps behind.
  for (int s = 0; s < 12; ++s) step({1});
  CHECK(near(pick(sparse_table, {1}), pick(dense_table, {1})));
  CHECK_FALSE(near(pick(sparse_table, {2, 4, 5, 6}), pick(dense_table, {2, 4, 5, 6})));
  sparse.catch_up_all();
  CHECK(near(sparse_table, dense_table));
  CHECK(near(sparse.state().at("exp_avg.t"), dense.state().at("exp_avg.t")));
  CHECK(torch::allclose(sparse.state().at("exp_avg_sq.t"), dense.state().at("exp_avg_sq.t"), 1e-5, 0));
  // A parameter that never had a sparse gradient has nothing to catch up.
  const auto before = dense_table.clone();
  dense.catch_up_rows(0, torch::arange(10, i64));
  dense.catch_up_all();
  CHECK(torch::equal(dense_table, before));
}

}  // namespace

TEST_CASE("adamw: sparse row gradients give dense AdamW's rows once the missed steps are caught up", "[train][param-path]") {
  check_sparse_rows(torch::kCPU, false);
  if (torch::cuda::is_available()) {
    check_sparse_rows(torch::kCUDA, true);   // blt's kernels: the row update and norm, the catch-up
    check_sparse_rows(torch::kCUDA, false);  // the reference loop on the GPU
  }
}

TEST_CASE("adamw: blt's row kernels sum a frequent row's many lookups as coalescing does (needs CUDA)",
          "[train][param-path]") {
  if (!torch::cuda::is_available()) {
    WARN("no CUDA device: the row kernels are checked on the GPU machine (bench/gpu_checks.sh test)");
    return;
  }
  torch::manual_seed(11);
  const auto f32 = torch::TensorOptions().device(torch::kCUDA);
  const auto i64 = f32.dtype(torch::kLong);
  // Row 5 looked up 200 times and row 9 70 times (runs over several 32-entry pieces, starting
  // off a piece boundary), 60 lookups anywhere, all in shuffled order.
  auto index = torch::cat({torch::full({200}, 5, i64), torch::full({70}, 9, i64), torch::randint(40, {60}, i64)});
  index = index.index_select(0, torch::randperm(index.size(0), i64));
  const auto grad = torch::sparse_coo_tensor(index.unsqueeze(0), torch::randn({index.size(0), 8}, f32), {40, 8});
  // float32 sums of <= 270 terms in another order than coalescing's: each differs by at most
  // 270 u sum|terms| (u = 6e-8), for normal terms ~ sqrt(270) |sum|: a relative 3e-4 at worst.
  const double coalesced = grad.coalesce().values().square().sum().item<double>();
  CHECK(blt::parallel::squared_norm({grad}, torch::kCUDA).item<double>() == Approx(coalesced).epsilon(3e-4));
  const auto start = torch::randn({40, 8}, f32);
  auto fused_table = start.clone(), reference_table = start.clone();
  OptimizerConfig config;
  AdamW fused({{"t", fused_table, true}}, config), reference({{"t", reference_table, true}}, config);
  reference.set_fused(false);
  REQUIRE(fused.fused());
  const auto clip = torch::full({}, 0.5, f32.dtype(torch::kDouble));
  for (int step = 0; step < 3; ++step) {
    fused.step(1e-2, {grad}, clip);
    reference.step(1e-2, {grad}, clip);
  }
  // AdamW's step lr m / (sqrt(v) + eps) moves by about lr times the gradient's relative change
  // (3e-4 above): 3e-6 a step, 3 steps, values of order 1.
  CHECK((fused_table - reference_table).abs().max().item<double>() <= 1e-5);
  CHECK_FALSE(torch::equal(fused_table, start));
}

namespace {

// A table whose moments are stored in bfloat16 against the same table with float32 moments, 8
// steps of row-sparse gradients: the values and the stored moments agree to bf16's rounding.
void check_bf16_moments(const torch::Device& device) {
  torch::manual_seed(13);
  const auto f32 = torch::TensorOptions().device(device);
  const auto i64 = f32.dtype(torch::kLong);
  const auto start = torch::randn({12, 8}, f32);
  auto narrow_table = start.clone(), wide_table = start.clone();
  OptimizerConfig config;
  AdamW narrow({{"t", narrow_table, true, torch::kBFloat16}}, config), wide({{"t", wide_table, true}}, config);
  for (int step = 0; step < 8; ++step) {
    const auto index = torch::randint(12, {10}, i64);
    const auto g = torch::sparse_coo_tensor(index.unsqueeze(0), torch::randn({10, 8}, f32), {12, 8});
    narrow.step(1e-2, {g});
    wide.step(1e-2, {g});
  }
  narrow.catch_up_all();
  wide.catch_up_all();
  CHECK(narrow.state().at("exp_avg.t").scalar_type() == torch::kBFloat16);
  CHECK(narrow.state().at("exp_avg_sq.t").scalar_type() == torch::kBFloat16);
  // Stored moments: bf16 keeps 8 significant bits, an error of 2^-9 of the value per rounding;
  // each step rounds once and carries the earlier roundings on, decayed by beta1: at most
  // 2^-9 / (1 - 0.9) < 2e-2 of the largest first moment.
  const auto m = narrow.state().at("exp_avg.t").to(torch::kFloat), m_wide = wide.state().at("exp_avg.t");
  CHECK((m - m_wide).abs().max().item<double>() <= 2e-2 * m_wide.abs().max().item<double>());
  // A step moves a value by lr m_hat / (sqrt(v_hat) + eps), which the moments' relative error
  // changes by at most ~1.5 times that error: 1e-2 x 1.5 x 2e-2 a step, 8 steps: 2.4e-3.
  CHECK((narrow_table - wide_table).abs().max().item<double>() <= 2.4e-3);
  CHECK_FALSE(torch::equal(narrow_table, start));
  // Only row-sparse updates write bf16 moments.
  REQUIRE_THROWS_WITH(narrow.step(1e-2, {torch::ones({12, 8}, f32)}),
                      Contains("parameter 't' keeps BFloat16 moments, which only row-sparse gradients update"));
}

}  // namespace

TEST_CASE("adamw: a table's moments stored in bf16 follow float32 moments to bf16's rounding", "[train][param-path]") {
  check_bf16_moments(torch::kCPU);
  if (torch::cuda::is_available()) check_bf16_moments(torch::kCUDA);  // blt's row kernels with bf16 moments
}

TEST_CASE("adamw: the fused CUDA kernel follows the reference arithmetic (needs CUDA)", "[train][param-path]") {
  if (!torch::cuda::is_available()) {
    WARN("no CUDA device: the fused path is checked on the GPU machine (bench/gpu_checks.sh test)");
    return;
  }
  torch::manual_seed(5);
  const auto options = torch::TensorOptions().device(torch::kCUDA);
  // b has 37 elements: blt's kernel takes 36 of them four at a time and the last one alone.
  const auto a = torch::randn({64, 32}, options), b = torch::randn({37}, options);
  auto fa = a.clone(), fb = b.clone(), ra = a.clone(), rb = b.clone();
  OptimizerConfig config;
  AdamW fused({{"a", fa, true}, {"b", fb, false}}, config), reference({{"a", ra, true}, {"b", rb, false}}, config);
  reference.set_fused(false);
  CHECK(fused.fused() == blt::compat::kHasFusedAdamW);
  const double lr = 1e-2;
  const int steps = 4;
  for (int s = 0; s < steps; ++s) {
    const auto ga = torch::randn({64, 32}, options), gb = torch::randn({37}, options);
    const auto clip = torch::full({}, 0.25, options.dtype(torch::kDouble));
    // Copies: with a clip factor LibTorch's fused kernel writes the clipped gradients back into its inputs.
    fused.step(lr, {ga.clone(), gb.clone()}, clip);
    reference.step(lr, {ga, gb}, clip);
  }
  // Gradients of order 1 keep sqrt(v) far above eps, so the paths differ only by the rounding of
  // the same few float32 operations (lerp vs mul+add, one division): a few ulp of each update
  // (|update| <= ~2 lr) and of each decayed value (|theta| < 6), per step.
  const double tolerance = steps * (6.0 + 2 * lr) * 8 * std::ldexp(1.0, -24);
  CHECK((fa - ra).abs().max().item<double>() <= tolerance);
  CHECK((fb - rb).abs().max().item<double>() <= tolerance);
  CHECK(torch::allclose(fused.state().at("exp_avg_sq.a"), reference.state().at("exp_avg_sq.a"), 1e-5, 0));
  // A true skip flag (a non-finite gradient norm) leaves values and moments exactly as they were,
  // in both paths; the gradients here are NaN, as they would be then. No clip tensor: undefined.
  const auto skip = torch::ones({}, options.dtype(torch::kBool));
  const auto nan_a = torch::full({64, 32}, NAN, options), nan_b = torch::full({37}, NAN, options);
  const auto fa0 = fa.clone(), ra0 = ra.clone(), m0 = fused.state().at("exp_avg.a").clone();
  fused.step(lr, {nan_a, nan_b}, {}, skip);
  reference.step(lr, {nan_a, nan_b}, {}, skip);
  CHECK(torch::equal(fa, fa0));
  CHECK(torch::equal(ra, ra0));
  CHECK(torch::equal(fused.state().at("exp_avg.a"), m0));
}

// blt's kernel steps every tensor of an update in one launch, its blocks taking 64 K-element
// chunks of any tensor in turn (kernels/adamw_kernel.cu). Tensors of every kind side by side (one
// element, a tail of n % 4, exactly one chunk, several chunks and a tail, one whose storage starts
// off a 16-byte boundary so it cannot be read four at a time, bf16 gradients, compute copies, with
// and without weight decay) must step in the group exactly as each does in a launch of its own:
// the same arithmetic on each element, so bit for bit. The group must also follow the reference
// loop to its rounding, which tells a chunk that was skipped or stepped twice.
TEST_CASE("adamw: one launch over many tensors steps each as a launch of it alone does (needs CUDA)",
          "[train][param-path]") {
  if (!torch::cuda::is_available()) {
    WARN("no CUDA device: the multi-tensor launch is checked on the GPU machine (bench/gpu_checks.sh test)");
    return;
  }
  torch::manual_seed(7);
  const auto options = torch::TensorOptions().device(torch::kCUDA);
  const int64_t chunk = int64_t{1} << 16;
  const std::vector<int64_t> sizes = {1, 37, 4, chunk, chunk + 1, 3 * chunk + 5, 1000};
  const std::size_t unaligned = sizes.size() - 1, count = sizes.size();
  const auto bf16_grad = [](std::size_t i) { return i == 2 || i == 5; };
  const auto with_copy = [unaligned](std::size_t i) { return i == 1 || i == 4 || i == unaligned; };
  std::vector<torch::Tensor> starts;
  for (const auto n : sizes) starts.push_back(torch::randn({n}, options));
  struct Side {
    std::vector<torch::Tensor> values;
    std::vector<std::shared_ptr<blt::model::ComputeCopy>> copies;
    std::vector<AdamW::Param> params;
  };
  const auto side = [&] {
    Side out;
    for (std::size_t i = 0; i < count; ++i) {
      auto value = starts[i].clone();
      if (i == unaligned) {  // one float into a buffer: 4-byte aligned, not 16
        auto buffer = torch::zeros({sizes[i] + 1}, options);
        buffer.narrow(0, 1, sizes[i]).copy_(starts[i]);
        value = buffer.narrow(0, 1, sizes[i]);
      }
      std::shared_ptr<blt::model::ComputeCopy> copy;
      if (with_copy(i)) {
        copy = std::make_shared<blt::model::ComputeCopy>(value, torch::kBFloat16);
        copy->current();
      }
      out.values.push_back(value);
      out.copies.push_back(copy);
      out.params.push_back({"t" + std::to_string(i), value, i % 2 == 0, c10::nullopt, copy});
    }
    return out;
  };
  Side group = side(), alone = side(), reference = side();
  REQUIRE(reinterpret_cast<uintptr_t>(group.values[unaligned].data_ptr()) % 16 != 0);
  OptimizerConfig config;
  AdamW group_opt(group.params, config), reference_opt(reference.params, config);
  reference_opt.set_fused(false);
  std::vector<AdamW> alone_opts;
  for (const auto& p : alone.params) alone_opts.emplace_back(std::vector<AdamW::Param>{p}, config);
  const double lr = 1e-2;
  const int steps = 3;
  for (int s = 0; s < steps; ++s) {
    std::vector<torch::Tensor> grads;
    for (std::size_t i = 0; i < count; ++i) {
      const auto g = torch::randn({sizes[i]}, options);
      grads.push_back(bf16_grad(i) ? g.to(torch::kBFloat16) : g);
    }
    const auto clip = torch::full({}, 0.5, options.dtype(torch::kDouble));
    group_opt.step(lr, grads, clip);
    reference_opt.step(lr, grads, clip);
    for (std::size_t i = 0; i < count; ++i) alone_opts[i].step(lr, {grads[i]}, clip);
  }
  double largest = 0;
  for (std::size_t i = 0; i < count; ++i) {
    INFO("tensor " << i << " of " << sizes[i] << " elements");
    CHECK(torch::equal(group.values[i], alone.values[i]));
    CHECK(torch::equal(group_opt.state().at("exp_avg_sq.t" + std::to_string(i)),
                       alone_opts[i].state().at("exp_avg_sq.t" + std::to_string(i))));
    if (with_copy(i)) CHECK(torch::equal(group.copies[i]->storage(), group.values[i].to(torch::kBFloat16)));
    CHECK_FALSE(torch::equal(group.values[i], starts[i]));
    largest = std::max(largest, starts[i].abs().max().item<double>());
  }
  // As in the two-tensor test above: a few ulp of each update (|update| <= ~2 lr) and of each
  // decayed value (|theta| <= largest + steps * 2 lr), per step.
  const double tolerance = steps * (largest + 2 * steps * lr + 2 * lr) * 8 * std::ldexp(1.0, -24);
  for (std::size_t i = 0; i < count; ++i) {
    INFO("tensor " << i << " against the reference loop");
    CHECK((group.values[i] - reference.values[i]).abs().max().item<double>() <= tolerance);
  }
}

TEST_CASE("batches ahead: the batches prepare_batch gives, in order; the loader state of those handed out",
          "[train][resume]") {
  TempDir dir;
  blt::test::write_corpus(dir / "corpus");
  const auto corpus = std::make_shared<const blt::data::ShardSet>(dir / "corpus/train", true);
  blt::data::LoaderOptions o;
  o.seq_len = 48;
  o.batch_size = 3;
  blt::data::Loader ahead_loader(corpus, o), plain_loader(corpus, o);
  blt::model::PatchingConfig space;
  space.mode = "space";  // lengths that differ from batch to batch
  const blt::model::Patcher patcher(space, nullptr);
  BatchAhead batches(ahead_loader, &patcher, torch::kCPU, nullptr);
  for (int k = 0; k < 4; ++k) {
    const auto got = batches.next();
    const auto want = prepare_batch(plain_loader.next()->tokens, &patcher, torch::kCPU);
    CHECK(torch::equal(got.input.tokens, want.input.tokens));
    CHECK(torch::equal(got.targets, want.targets));
    CHECK(torch::equal(got.input.patch_lengths, want.input.patch_lengths));
    CHECK(got.real_patches() == want.real_patches());
    // One batch more has left the loader, but a checkpoint must resume after the ones handed out.
    CHECK(batches.loader_state().next_sequence == plain_loader.state().next_sequence);
    CHECK(ahead_loader.state().next_sequence > plain_loader.state().next_sequence);
  }
  blt::data::Loader resumed(corpus, o);
  resumed.restore(batches.loader_state());
  CHECK(torch::equal(prepare_batch(resumed.next()->tokens, &patcher, torch::kCPU).input.tokens,
                     batches.next().input.tokens));
}

// dist.reduce_dtype bfloat16 hands AdamW bf16 gradients of float32 parameters: the same step as
// the float32 gradient of the same values, bit for bit (a bf16 value converts to float32 exactly,
// and the arithmetic after it is the same): through blt's kernel on CUDA, which reads the bf16
// gradient as it is (37 elements: four at a time and one alone), converted on the other paths.
TEST_CASE("adamw: a bf16 gradient steps a float32 parameter as its float32 value does", "[train][param-path]") {
  for (const auto& device : blt::test::cpu_and_cuda()) {
    INFO(device.str());
    torch::manual_seed(6);
    const auto options = torch::TensorOptions().device(device);
    const auto a = torch::randn({64, 32}, options), b = torch::randn({37}, options);
    auto ha = a.clone(), hb = b.clone(), fa = a.clone(), fb = b.clone();
    OptimizerConfig config;
    AdamW half({{"a", ha, true}, {"b", hb, false}}, config), full({{"a", fa, true}, {"b", fb, false}}, config);
    for (int s = 0; s < 3; ++s) {
      const auto ga = torch::randn({64, 32}, options).to(torch::kBFloat16);
      const auto gb = torch::randn({37}, options).to(torch::kBFloat16);
      const auto clip = torch::full({}, 0.5, options.dtype(torch::kDouble));
      half.step(1e-2, {ga, gb}, clip);
      full.step(1e-2, {ga.to(torch::kFloat), gb.to(torch::kFloat)}, clip);
    }
    CHECK(torch::equal(ha, fa));
    CHECK(torch::equal(hb, fb));
    CHECK(torch::equal(half.state().at("exp_avg_sq.a"), full.state().at("exp_avg_sq.a")));
    CHECK_FALSE(torch::equal(ha, a));
  }
}
