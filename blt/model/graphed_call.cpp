#include "blt/model/graphed_call.h"

#include <vector>

#include "blt/core/torch_compat.h"
#include "blt/model/linear.h"

#ifdef BLT_WITH_CUDA
#include <ATen/autocast_mode.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace blt::model {

bool cuda_graphs_built() { return BLT_CUDA_BUILD != 0; }

struct GraphedCall::State {
  torch::nn::Module& module;
  Function fn;
  int64_t captures = 0, replays = 0;
  bool warmed_up = false;  // one eager call before the first capture
#ifdef BLT_WITH_CUDA
  std::unique_ptr<at::cuda::CUDAGraph> forward, backward;
#endif
  torch::Tensor input, output, grad_output;  // the captured ones
  std::vector<torch::Tensor> params;          // the module's, those that require a gradient
  std::vector<torch::Tensor> grads;           // captured: the input's, then each parameter's (or undefined)
  // What the capture saw: the parameters' addresses then the compute copies', and autocast.
  std::vector<const void*> addresses;
  compat::AutocastState autocast;
  // The node of the last replayed output while its backward has not run.
  std::weak_ptr<torch::autograd::Node> pending;

  State(torch::nn::Module& m, Function f) : module(m), fn(std::move(f)) {}
};

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A parameter gradient that autograd took from an earlier replay without copying it (as .grad) is
// still the backward graph's output buffer, in the memory pool both graphs share: the forward
// replay reuses that memory for its temporaries and the backward replay writes the buffer again.
// Such a gradient gets its own memory before either (micro-batches after the first; ddp's buckets
// copy gradients out before then, so this is for one process).
void keep_taken_grads(GraphedCall::State& s) {
  for (std::size_t i = 0; i < s.params.size(); ++i) {
    auto& p = s.params[i];
    const auto& captured = s.grads[i + 1];
    if (p.grad().defined() && captured.defined() && p.grad().is_alias_of(captured)) p.mutable_grad() = p.grad().clone();
  }
}

// The autograd node of a replay: forward replays the first graph, backward the second.
struct Replay : torch::autograd::Function<Replay> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, torch::TensorList /*params*/,
                               GraphedCall::State* state) {
    ctx->saved_data["state"] = reinterpret_cast<int64_t>(state);
    keep_taken_grads(*state);
#ifdef BLT_WITH_CUDA
    state->input.detach().copy_(x);
    state->forward->replay();
#endif
    return state->output.detach();
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto* state = reinterpret_cast<GraphedCall::State*>(ctx->saved_data["state"].toInt());
#ifdef BLT_WITH_CUDA
    if (grads[0].defined())
      state->grad_output.copy_(grads[0]);
    else
      state->grad_output.zero_();
    state->backward->replay();
#endif
    state->pending.reset();
    // The input's gradient is copied out: it flows on through the rest of the model, where a
    // pass-through node could hand it (or a view of it) to some parameter outside this module as
    // its .grad, which the next replay would overwrite. The parameters' are detached: autograd may
    // keep one as it is instead of copying it (keep_taken_grads guards the next replay).
    variable_list out;
    out.push_back(state->grads[0].clone());
    for (std::size_t i = 1; i < state->grads.size(); ++i)
      out.push_back(state->grads[i].defined() ? state->grads[i].detach() : torch::Tensor());
    out.push_back(torch::Tensor());  // the state pointer
    return out;
  }
};

#ifdef BLT_WITH_CUDA
// Where the graph reads the module's weights: its parameters, and the compute copies its Linear
// layers take under autocast, each made current first (a weight written through the tensor API
// since, e.g. by a checkpoint load, is cast again in place, where the graph reads it).
std::vector<const void*> weight_addresses(torch::nn::Module& module) {
  std::vector<const void*> out;
  for (const auto& p : module.parameters()) out.push_back(p.data_ptr());
  for (const auto& m : module.modules(/*include_self=*/true))
    if (auto* linear = m->as<LinearImpl>())
      if (const auto copy = linear->compute_copy()) out.push_back(copy->current().data_ptr());
  return out;
}

bool same_layout(const torch::Tensor& a, const torch::Tensor& b) {
  return a.sizes() == b.sizes() && a.strides() == b.strides() && a.scalar_type() == b.scalar_type() &&
         a.device() == b.device();
}

// Autocast's cache of cast weights off while capturing: a cast cached before the capture would be
// read by the graph from memory that is freed when the autocast region ends, and one cached
// during it would be reused outside the graph.
class AutocastCacheOff {
 public:
  AutocastCacheOff() : was_(at::autocast::is_autocast_cache_enabled()) { at::autocast::set_autocast_cache_enabled(false); }
  ~AutocastCacheOff() { at::autocast::set_autocast_cache_enabled(was_); }

 private:
  bool was_;
};

void capture(GraphedCall::State& s, const torch::Tensor& x) {
  s.forward.reset();
  s.backward.reset();
  s.output = s.grad_output = torch::Tensor();
  s.grads.clear();
  s.params.clear();
  for (const auto& p : s.module.parameters())
    if (p.requires_grad()) s.params.push_back(p);
  std::vector<torch::Tensor> inputs;
  {
    torch::NoGradGuard no_grad;
    s.input = torch::empty_like(x);
    s.input.copy_(x);
  }
  s.input.requires_grad_(true);
  inputs.push_back(s.input);
  inputs.insert(inputs.end(), s.params.begin(), s.params.end());

  const c10::cuda::CUDAGuard device(x.device());
  const auto main = c10::cuda::getCurrentCUDAStream(x.device().index());
  const auto side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, x.device().index());
  const AutocastCacheOff no_cache;
  at::cuda::CUDAEvent ready;
  ready.record(main);
  ready.block(side);
  torch::Tensor sample;  // the output's shape, from a pass on the side stream (its own cuBLAS workspace)
  {
    const c10::cuda::CUDAStreamGuard on_side(side);
    sample = s.fn(s.input);
    torch::autograd::grad({sample}, inputs, {torch::ones_like(sample)}, /*retain_graph=*/false,
                          /*create_graph=*/false, /*allow_unused=*/true);
    sample = sample.detach();
  }
  at::cuda::CUDAEvent warmed;
  warmed.record(side);
  warmed.block(main);
  s.grad_output = torch::empty_like(sample);  // on the main stream, where backward writes it
  ready.record(main);
  ready.block(side);
  {
    const c10::cuda::CUDAStreamGuard on_side(side);
    s.forward = std::make_unique<at::cuda::CUDAGraph>();
    s.forward->capture_begin();
    s.output = s.fn(s.input);
    s.forward->capture_end();
    s.backward = std::make_unique<at::cuda::CUDAGraph>();
    s.backward->capture_begin(s.forward->pool());
    s.grads = torch::autograd::grad({s.output}, inputs, {s.grad_output}, /*retain_graph=*/false,
                                    /*create_graph=*/false, /*allow_unused=*/true);
    s.backward->capture_end();
  }
  at::cuda::CUDAEvent captured;
  captured.record(side);
  captured.block(main);
  s.output = s.output.detach();
  s.addresses = weight_addresses(s.module);
  s.autocast = compat::cuda_autocast_state();
  ++s.captures;
}
#endif

}  // namespace

GraphedCall::GraphedCall(torch::nn::Module& module, Function fn)
    : state_(std::make_unique<State>(module, std::move(fn))) {}

GraphedCall::~GraphedCall() = default;

int64_t GraphedCall::captures() const { return state_->captures; }
int64_t GraphedCall::replays() const { return state_->replays; }

torch::Tensor GraphedCall::operator()(const torch::Tensor& x) {
  auto& s = *state_;
  const bool recorded = cuda_graphs_built() && x.is_cuda() && torch::GradMode::is_enabled() && x.requires_grad();
  if (!recorded || !s.pending.expired()) return s.fn(x);
  if (!s.warmed_up) {
    s.warmed_up = true;
    return s.fn(x);
  }
#ifdef BLT_WITH_CUDA
  const auto autocast = compat::cuda_autocast_state();
  const bool current = s.forward && same_layout(x, s.input) && autocast.enabled == s.autocast.enabled &&
                       autocast.dtype == s.autocast.dtype && weight_addresses(s.module) == s.addresses;
  if (!current) capture(s, x);
  auto out = Replay::apply(x, torch::TensorList(s.params), &s);
  s.pending = out.grad_fn();
  ++s.replays;
  return out;
#else
  return s.fn(x);
#endif
}

}  // namespace blt::model
