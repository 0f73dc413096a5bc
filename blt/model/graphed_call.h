// A module's forward and backward replayed from two CUDA graphs (train.cuda_graphs).
//
// Why: a model whose kernels are short waits for the host to launch them. blt-400m's step runs
// 2652 kernels in 48 ms of GPU time but takes 68-88 ms, its global transformer alone ~45 ms of
// forward and backward launches (docs/perf.md, "session 12"). A graph launches all of them in
// one call.
//
// How (the recipe of PyTorch's make_graphed_callables): the first call runs eagerly (cuBLAS and
// cuDNN set themselves up); the second captures, on a side stream after one more eager pass
// there, the function's forward into one graph and the gradient of its output with respect to
// its input and the module's parameters (autograd::grad: nothing accumulates into .grad, no
// gradient hook fires) into a second graph sharing the first one's memory. Every later call
// copies its input into the captured input and replays the forward; the output it returns has an
// autograd node whose backward copies the incoming gradient into place, replays the backward and
// hands the captured gradients to autograd, which accumulates them into .grad as from any node
// (so ddp's gradient hooks see them as usual).
//
// A graph bakes in every address and shape it was captured with. A call replays only when its
// input has the captured shape, dtype and device and requires a gradient, gradients are being
// recorded, autocast is as it was, the parameters and the Linear layers' compute copies are where
// they were (a model moved or given new storage is captured again), and no earlier replay waits
// for its backward (its activations live in the graph's memory: another forward before it would
// overwrite them). Otherwise the function runs eagerly. The output's memory is the next replay's:
// one forward and one backward per micro-batch, as training does, consume it in time.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>

namespace blt::model {

// Whether this build can capture CUDA graphs (LibTorch with CUDA).
bool cuda_graphs_built();

class GraphedCall {
 public:
  using Function = std::function<torch::Tensor(const torch::Tensor&)>;
  // `fn` is `module`'s forward; the parameters it reads are `module`'s (and its Linear layers'
  // compute copies).
  GraphedCall(torch::nn::Module& module, Function fn);
  ~GraphedCall();
  GraphedCall(const GraphedCall&) = delete;
  GraphedCall& operator=(const GraphedCall&) = delete;

  torch::Tensor operator()(const torch::Tensor& x);

  // Times the function was captured, and calls that replayed it (tests).
  int64_t captures() const;
  int64_t replays() const;

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace blt::model
