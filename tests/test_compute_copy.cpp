// Linear weights' bf16 compute copies (model/linear.h): the arithmetic of autocast's casts, bit for
// bit, with the cast made once and then written by the optimizer. On the CPU under CPU autocast
// (LibTorch's reference AdamW path casts the copy), on CUDA also under CUDA autocast (blt's AdamW
// kernel writes it).
#include "blt/core/torch_compat.h"
#include "blt/model/linear.h"
#include "blt/parallel/param_update.h"
#include "blt/train/adamw.h"
#include "model_test_util.h"

using blt::model::ComputeCopy;
using blt::model::Linear;

namespace {

// bf16 autocast on `device`'s type for the guard's lifetime.
class Bf16Autocast {
 public:
  explicit Bf16Autocast(const torch::Device& device) : type_(device.type()), before_(blt::compat::autocast_state(type_)) {
    blt::compat::set_autocast(type_, {true, torch::kBFloat16});
  }
  ~Bf16Autocast() {
    blt::compat::set_autocast(type_, before_);
    at::autocast::clear_cache();
  }

 private:
  c10::DeviceType type_;
  blt::compat::AutocastState before_;
};

// Two layers of one weight on `device`, the second keeping a bf16 compute copy.
struct Twins {
  Linear plain, kept;
  std::shared_ptr<ComputeCopy> copy;
  Twins(int64_t in, int64_t out, const torch::Device& device) : plain(in, out), kept(in, out) {
    {
      torch::NoGradGuard no_grad;
      kept->weight.copy_(plain->weight);
    }
    plain->to(device);
    kept->to(device);
    copy = kept->keep_compute_copy(torch::kBFloat16);
  }
};

}  // namespace

TEST_CASE("linear: a compute copy gives the outputs and gradients of autocast's cast, bit for bit", "[model]") {
  for (const auto& device : blt::test::cpu_and_cuda()) {
    INFO(device.str());
    torch::manual_seed(3);
    Twins twins(24, 16, device);
    auto &plain = twins.plain, &kept = twins.kept;
    const auto& copy = twins.copy;
    const auto x = torch::randn({5, 24}, torch::TensorOptions().device(device));
    CHECK(torch::equal(kept(x), plain(x)));  // no autocast: the float32 weight itself
    CHECK_FALSE(copy->storage().defined());  // and no copy made for it
    for (int pass = 0; pass < 2; ++pass) {   // the second pass takes the copy the first made
      INFO("pass " << pass);
      auto xa = x.clone().requires_grad_(), xb = x.clone().requires_grad_();
      torch::Tensor ya, yb;
      {
        const Bf16Autocast autocast(device);
        ya = plain(xa);
        yb = kept(xb);
      }
      CHECK(yb.scalar_type() == torch::kBFloat16);
      CHECK(torch::equal(ya, yb));
      const auto g = torch::randn_like(ya);
      ya.backward(g);
      yb.backward(g);
      CHECK(kept->weight.grad().scalar_type() == torch::kFloat);
      CHECK(torch::equal(plain->weight.grad(), kept->weight.grad()));
      CHECK(torch::equal(xa.grad(), xb.grad()));
      REQUIRE(copy->storage().defined());
      CHECK(torch::equal(copy->storage(), kept->weight.detach().to(torch::kBFloat16)));
    }
  }
}

TEST_CASE("linear: the copy is cast once while the weight is unchanged, again after a write to it", "[model]") {
  for (const auto& device : blt::test::cpu_and_cuda()) {
    INFO(device.str());
    torch::manual_seed(4);
    Twins twins(8, 8, device);
    auto &plain = twins.plain, &kept = twins.kept;
    const auto& copy = twins.copy;
    torch::NoGradGuard no_grad;
    const auto x = torch::randn({3, 8}, torch::TensorOptions().device(device));
    // Each forward in its own autocast region: autocast's own cache would keep plain's first cast.
    const auto same = [&] {
      const Bf16Autocast autocast(device);
      return torch::equal(kept(x), plain(x));
    };
    CHECK(same());
    // Only the copy changes: a forward that cast the weight again would not see it.
    copy->storage().zero_();
    {
      const Bf16Autocast autocast(device);
      CHECK(kept(x).abs().max().item<float>() == 0.0f);
    }
    // A write through the tensor API, as a checkpoint load makes it (into a view of the weight).
    const auto part = torch::randn({5}, x.options());
    for (auto* linear : {&plain, &kept}) (*linear)->weight.detach().view({-1}).narrow(0, 0, 5).copy_(part);
    CHECK(same());
    // An in-place op on the weight itself.
    plain->weight.mul_(2);
    kept->weight.mul_(2);
    CHECK(same());
  }
}

TEST_CASE("adamw: every update path leaves a weight's compute copy its new value rounded to bf16", "[train][param-path]") {
  for (const auto& device : blt::test::cpu_and_cuda()) {
    for (const bool fused : {true, false}) {
      if (fused && !device.is_cuda()) continue;  // the CPU has the reference loop only
      INFO(device.str() << (fused ? " fused" : " reference"));
      torch::manual_seed(5);
      const auto options = torch::TensorOptions().device(device);
      auto value = torch::randn({64, 36}, options);
      const auto copy = std::make_shared<ComputeCopy>(value, torch::kBFloat16);
      copy->current();  // made, as the first forward makes it
      blt::train::AdamW adamw({{"w", value, true, c10::nullopt, copy}}, blt::train::OptimizerConfig{});
      adamw.set_fused(fused && adamw.fused());
      const auto before = value.clone();
      for (int s = 0; s < 3; ++s) {
        adamw.step(1e-2, {torch::randn({64, 36}, options)}, torch::full({}, 0.5, options));
        // storage() reads the copy as the update left it (current() would cast it again if it were stale).
        CHECK(torch::equal(copy->storage(), value.to(torch::kBFloat16)));
      }
      CHECK_FALSE(torch::equal(value, before));
      const auto stepped = value.clone();
      adamw.step(1e-2, {torch::randn({64, 36}, options)}, {}, torch::ones({}, options.dtype(torch::kBool)));
      CHECK(torch::equal(value, stepped));  // a skipped step changes neither
      CHECK(torch::equal(copy->storage(), value.to(torch::kBFloat16)));
    }
  }
}

TEST_CASE("param update: ddp's compute copies train as autocast's casts do, bit for bit", "[dist][param-path]") {
  const auto config = blt::test::load_model_preset("tiny");
  blt::train::OptimizerConfig opt;
  opt.lr = 1e-2;
  blt::parallel::Comm comm;
  for (const auto& device : blt::test::cpu_and_cuda()) {
    INFO(device.str());
    torch::Generator gen = at::detail::createCPUGenerator(6);
    const blt::model::ModelInput input{blt::test::random_tokens(2, 32, gen).to(device), torch::Tensor()};
    std::map<bool, std::vector<torch::Tensor>> losses, params;
    for (const bool copies : {false, true}) {
      torch::manual_seed(1);
      auto model = blt::model::build_model(config);
      model->to(device);
      auto update = blt::parallel::make_param_update(
          blt::parallel::DistConfig{"ddp"}, *model, comm, opt,
          copies ? c10::optional<torch::ScalarType>(torch::kBFloat16) : c10::nullopt);
      for (int step = 0; step < 3; ++step) {
        torch::Tensor loss;
        {
          const Bf16Autocast autocast(device);
          loss = model->forward(input).to(torch::kFloat).pow(2).mean();
        }
        loss.backward();
        update->step(opt.lr, /*max_norm=*/1.0);
        losses[copies].push_back(loss.detach());
      }
      for (const auto& p : model->parameters()) params[copies].push_back(p.detach().clone());
      if (copies) {  // the copies were used, and the last update left them current
        const auto kept = blt::model::keep_compute_copies(*model, torch::kBFloat16);
        REQUIRE(kept.size() > 10);
        for (const auto& copy : kept) {
          REQUIRE(copy->storage().defined());
          CHECK(torch::equal(copy->storage(), copy->weight().detach().to(torch::kBFloat16)));
        }
      }
    }
    for (std::size_t i = 0; i < losses[false].size(); ++i) CHECK(torch::equal(losses[false][i], losses[true][i]));
    for (std::size_t i = 0; i < params[false].size(); ++i) CHECK(torch::equal(params[false][i], params[true][i]));
  }
}
