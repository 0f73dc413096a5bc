// ddp's gradient sum (parallel/grad_sync.h) on two Gloo ranks in this process: the sum itself, the
// buckets started inside the backward pass that completes the gradients, gradient accumulation
// over micro-batches, and the error for a gradient that arrives after its bucket started.
#include "blt/parallel/grad_sync.h"

#include "gloo_ranks.h"
#include "helpers.h"

using blt::parallel::Comm;
using blt::parallel::GradSync;
using blt::test::on_ranks;
using Catch::Matchers::Contains;

namespace {

// Three float64 layers, the same on every rank; no random numbers (the ranks are threads, which
// would share LibTorch's generator).
struct Layers {
  torch::Tensor w1, w2, w3;
  Layers() {
    const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
    w1 = (torch::arange(12, f64).view({4, 3}) * 0.1 - 0.5).requires_grad_(true);
    w2 = (torch::arange(16, f64).view({4, 4}).cos() * 0.3).requires_grad_(true);
    w3 = (torch::arange(8, f64).view({2, 4}).sin() * 0.7).requires_grad_(true);
  }
  std::vector<GradSync::Param> params() const { return {{"w1", w1, false}, {"w2", w2, false}, {"w3", w3, false}}; }
  torch::Tensor loss(const torch::Tensor& x) const {
    return torch::tanh(torch::tanh(x.matmul(w1.t())).matmul(w2.t())).matmul(w3.t()).square().sum();
  }
  std::vector<torch::Tensor> grads() const { return {w1.grad().clone(), w2.grad().clone(), w3.grad().clone()}; }
};

torch::Tensor input(int rank, double scale) {
  return (torch::arange(15, torch::TensorOptions().dtype(torch::kDouble)).view({5, 3}) + rank).sin() * scale;
}

}  // namespace

TEST_CASE("grad sync: ddp sums gradients over ranks, its buckets started inside the last backward pass",
          "[dist][gloo]") {
  const int world = 2;
  std::vector<std::vector<torch::Tensor>> local(world), summed(world), unarmed(world);
  std::vector<std::vector<bool>> views_after_backward(world);
  std::vector<bool> cleared(world);
  on_ranks(world, 29612, [&](Comm& comm) {
    const int r = comm.rank();
    {  // What this rank's two micro-batches give alone.
      Layers alone;
      alone.loss(input(r, 1.0)).backward();
      alone.loss(input(r, 2.0)).backward();
      local[r] = alone.grads();
    }
    Layers layers;
    GradSync sync(layers.params(), comm, std::nullopt, /*bucket_bytes=*/1);  // one bucket per tensor: w3, w2, w1
    layers.loss(input(r, 1.0)).backward();  // the first micro-batch accumulates
    sync.reduce_in_next_backward();
    layers.loss(input(r, 2.0)).backward();  // the last one starts every bucket
    for (const auto& w : {layers.w1, layers.w2, layers.w3}) views_after_backward[r].push_back(w.grad().is_view());
    sync.all_reduce_grads();
    summed[r] = layers.grads();
    sync.clear_grads();
    cleared[r] = !layers.w1.grad().defined() && !layers.w3.grad().defined();
    // Unarmed, everything is summed at the step.
    layers.loss(input(r, 1.0)).backward();
    sync.all_reduce_grads();
    unarmed[r] = layers.grads();
    sync.clear_grads();
  });
  for (int r = 0; r < world; ++r) {
    // A bucket that started holds its members' gradients as views of its buffer; accumulated
    // gradients are tensors of their own.
    CHECK(views_after_backward[r] == std::vector<bool>{true, true, true});
    CHECK(cleared[r]);
    for (std::size_t i = 0; i < 3; ++i) {
      // Two float64 summands: their sum is the same whichever rank adds first (addition commutes).
      CHECK(torch::equal(summed[r][i], local[0][i] + local[1][i]));
      CHECK(torch::equal(unarmed[0][i], unarmed[r][i]));
    }
  }
  CHECK_FALSE(torch::equal(unarmed[0][2], summed[0][2]));
}

TEST_CASE("grad sync: a gradient that arrives after its bucket started is an error naming the parameter",
          "[dist][gloo][trust-io]") {
  const int world = 2;
  std::vector<std::string> errors(world);
  on_ranks(world, 29613, [&](Comm& comm) {
    const int r = comm.rank();
    Layers layers;
    GradSync sync(layers.params(), comm, std::nullopt, /*bucket_bytes=*/1);
    sync.reduce_in_next_backward();
    layers.loss(input(r, 1.0)).backward();  // every bucket started
    try {
      (layers.w3 * layers.w3).sum().backward();  // w3 again, in a second pass before the step
    } catch (const std::exception& e) {
      errors[r] = e.what();
    }
    sync.all_reduce_grads();  // the started buckets finish on both ranks
  });
  for (int r = 0; r < world; ++r)
    CHECK_THAT(errors[r], Contains("ddp: parameter 'w3' received a second gradient after its bucket's all-reduce"));
}
