// The global transformer replayed from CUDA graphs (model/graphed_call.h, train.cuda_graphs): the
// graphs launch the very kernels the eager pass launches, on the same inputs and weights, so a
// graphed model trains as its eager twin does, bit for bit; and a call whose forward would
// overwrite activations a backward still needs, or whose shape differs, must not replay the graph
// it has.
#include <cstdlib>
#include <iomanip>

#include "blt/core/torch_compat.h"
#include "blt/model/blt_model.h"
#include "blt/model/graphed_call.h"
#include "blt/parallel/param_update.h"
#include "helpers.h"
#include "model_test_util.h"
#include "train_test_util.h"

using Catch::Matchers::Contains;

namespace {

// Both sides of a comparison run under PyTorch's deterministic algorithms (flash attention's
// backward without atomics, scatter_add through a sorted index_put, cuBLAS on a fixed workspace),
// as blt's own kernels always are: only then is "bit for bit" a property of the code rather than
// of how warps happened to be scheduled. warn_only: an op with no deterministic variant warns.
class DeterministicAlgorithms {
 public:
  DeterministicAlgorithms() : was_(at::globalContext().deterministicAlgorithms()) {
    setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
    at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
  }
  ~DeterministicAlgorithms() { at::globalContext().setDeterministicAlgorithms(was_, false); }

 private:
  bool was_;
};

struct Trained {
  std::shared_ptr<blt::model::CausalLM> model;
  std::unique_ptr<blt::parallel::ParamUpdate> update;
};

// A blt `tiny` model from seed 1 on CUDA, trained as the trainer trains it: ddp's update with bf16
// compute copies, forward under bf16 autocast.
Trained tiny_on_cuda(bool graphs, const blt::train::OptimizerConfig& opt, blt::parallel::Comm& comm) {
  auto config = blt::test::load_model_preset("tiny");
  config.patching.mode = "static";  // one patch count: one graph
  torch::manual_seed(1);
  Trained t;
  t.model = blt::model::build_model(config);
  t.model->to(torch::kCUDA);
  if (graphs) REQUIRE(t.model->set_cuda_graphs(true) == 1);
  t.update = blt::parallel::make_param_update(blt::parallel::DistConfig{"ddp"}, *t.model, comm, opt,
                                              c10::optional<torch::ScalarType>(torch::kBFloat16));
  return t;
}

torch::Tensor loss_of(blt::model::CausalLM& model, const torch::Tensor& tokens) {
  const blt::compat::CudaAutocast autocast(true, torch::kBFloat16);
  return model.forward({tokens, torch::Tensor()}).to(torch::kFloat).pow(2).mean();
}

// "" when every parameter (or, with `grads`, every gradient) of `b` equals `a`'s bit for bit; else
// the first that differs, and by how much.
std::string first_difference(blt::model::CausalLM& a, blt::model::CausalLM& b, bool grads) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) {
    const auto x = grads ? pa[i].value().grad() : pa[i].value(), y = grads ? pb[i].value().grad() : pb[i].value();
    if (x.defined() != y.defined()) return pa[i].key() + ": defined on one side only";
    if (x.defined() && !torch::equal(x, y))
      return pa[i].key() + ": max difference " + std::to_string((x - y).abs().max().item<double>());
  }
  return "";
}

const blt::model::GraphedCall& graphed(blt::model::CausalLM& model) {
  const auto* call = dynamic_cast<blt::model::BltModel&>(model).global_transformer->graphed();
  REQUIRE(call != nullptr);
  return *call;
}

// Three steps of two micro-batches of `a` and `b` on the same batches from `gen`, each loss, each
// micro-batch's gradients, each gradient norm and each update's parameters required equal bit for bit.
void train_alike(Trained& a, Trained& b, const blt::train::OptimizerConfig& opt, torch::Generator& gen) {
  for (int step = 0; step < 3; ++step) {
    for (int micro = 0; micro < 2; ++micro) {
      const auto tokens = blt::test::random_tokens(2, 64, gen).to(torch::kCUDA);
      const auto loss_a = loss_of(*a.model, tokens), loss_b = loss_of(*b.model, tokens);
      loss_a.backward();
      loss_b.backward();
      INFO("step " << step << ", micro-batch " << micro);
      CHECK(torch::equal(loss_a, loss_b));
      CHECK(first_difference(*a.model, *b.model, /*grads=*/true) == "");
    }
    const auto norm_a = a.update->step(opt.lr, /*max_norm=*/1.0);
    const auto norm_b = b.update->step(opt.lr, /*max_norm=*/1.0);
    INFO("after step " << step << ": norms " << std::setprecision(17) << norm_a.item<double>() << " and "
                          << norm_b.item<double>());
    CHECK(torch::equal(norm_a, norm_b));  // the clip factor: same gradients, same norm
    CHECK(first_difference(*a.model, *b.model, /*grads=*/false) == "");
  }
}

}  // namespace

// The premise of the graphed test below: on CUDA, a model and its twin, trained eagerly on the same
// batches under deterministic algorithms, stay equal bit for bit. If this fails, a difference below
// would say nothing about the graphs.
TEST_CASE("graphed call: two eager twins on CUDA train bit for bit alike (the graphed test's premise)", "[model][train]") {
  if (!torch::cuda::is_available()) {
    WARN("no CUDA device: checked on the GPU machine (bench/gpu_checks.sh test)");
    return;
  }
  const DeterministicAlgorithms deterministic;
  blt::train::OptimizerConfig opt;
  opt.lr = 1e-2;
  blt::parallel::Comm comm;
  auto a = tiny_on_cuda(false, opt, comm), b = tiny_on_cuda(false, opt, comm);
  torch::Generator gen = at::detail::createCPUGenerator(3);
  train_alike(a, b, opt, gen);
}

TEST_CASE("graphed call: the global transformer replayed from CUDA graphs trains as it does eagerly (needs CUDA)",
          "[model][train]") {
  if (!torch::cuda::is_available() || !blt::model::cuda_graphs_built()) {
    WARN("no CUDA device: CUDA graphs are checked on the GPU machine (bench/gpu_checks.sh test)");
    return;
  }
  const DeterministicAlgorithms deterministic;
  blt::train::OptimizerConfig opt;
  opt.lr = 1e-2;
  blt::parallel::Comm comm;
  auto eager = tiny_on_cuda(false, opt, comm), graphs = tiny_on_cuda(true, opt, comm);
  torch::Generator gen = at::detail::createCPUGenerator(3);
  // The first forward warms up, the second captures, every later one replays; the second
  // micro-batch's gradient adds to the first's.
  train_alike(eager, graphs, opt, gen);
  const auto& call = graphed(*graphs.model);
  CHECK(call.captures() == 1);
  CHECK(call.replays() == 5);

  // Two forwards before one backward: the second must run eagerly (a replay would overwrite the
  // activations the first one's backward reads), and the gradients are the eager twin's.
  const auto t1 = blt::test::random_tokens(2, 64, gen).to(torch::kCUDA);
  const auto t2 = blt::test::random_tokens(2, 64, gen).to(torch::kCUDA);
  (loss_of(*eager.model, t1) + loss_of(*eager.model, t2)).backward();
  (loss_of(*graphs.model, t1) + loss_of(*graphs.model, t2)).backward();
  CHECK(call.replays() == 6);
  CHECK(first_difference(*eager.model, *graphs.model, /*grads=*/true) == "");
  eager.update->step(opt.lr, 1.0);
  graphs.update->step(opt.lr, 1.0);
  CHECK(first_difference(*eager.model, *graphs.model, /*grads=*/false) == "");

  // Another batch size is another shape: captured again, and still the eager result.
  const auto t3 = blt::test::random_tokens(1, 64, gen).to(torch::kCUDA);
  const auto a = loss_of(*eager.model, t3), b = loss_of(*graphs.model, t3);
  a.backward();
  b.backward();
  CHECK(torch::equal(a, b));
  CHECK(call.captures() == 2);
  // Without gradients (evaluation) the function runs eagerly: nothing captured, nothing replayed.
  {
    torch::NoGradGuard no_grad;
    CHECK(torch::equal(loss_of(*eager.model, t3), loss_of(*graphs.model, t3)));
  }
  CHECK(call.captures() == 2);
  CHECK(call.replays() == 7);
}

TEST_CASE("train: train.cuda_graphs names what it needs", "[train][e2e]") {
  blt::test::TempDir dir;
  blt::test::write_corpus(dir / "corpus");
  const auto cfg = blt::test::config_file(dir, "graphs", "tiny", "  steps: 1\n");
  const auto cpu = blt::test::run_blt("train " + cfg + " --set train.device=cpu --set train.cuda_graphs=true");
  CHECK(cpu.exit_code != 0);
  CHECK_THAT(cpu.output, Contains("train.cuda_graphs: needs a CUDA device"));
  if (!torch::cuda::is_available() || !blt::model::cuda_graphs_built()) return;
  const auto space = blt::test::run_blt("train " + cfg +
                                        " --set train.device=cuda --set train.cuda_graphs=true --set model.patching.mode=space");
  CHECK(space.exit_code != 0);
  CHECK_THAT(space.output, Contains("needs model.patching.mode static"));
}
