// Where a forward pass goes from one part of the model to the next, for `blt bench`'s time per
// component (train/step_timer.h, docs/perf.md). While a probe is installed, mark_component(part,
// out) tells it that the forward work of `part` is queued, and a gradient hook on `out` tells it
// when backward has produced out's gradient: the backward of every part after `part` is done
// then. Without a probe (training, evaluation, generation), and in passes without gradients (the
// patcher's entropy model), mark_component returns `out` untouched.
#pragma once
#include <torch/torch.h>

namespace blt::model {

class ComponentProbe {
 public:
  virtual ~ComponentProbe() = default;
  // The forward work of `part` is queued; returns the index that backward_reached will get.
  virtual int forward_done(const char* part) = 0;
  // Backward produced the gradient of the output marked with `index`. Called from autograd's
  // threads while the caller of backward() waits.
  virtual void backward_reached(int index) = 0;
};

// Installs `probe` for the process (nullptr removes it); the caller keeps it alive meanwhile.
void set_component_probe(ComponentProbe* probe);

// Marks `out` as the output of `part` for the installed probe, if any; returns `out`.
torch::Tensor mark_component(const char* part, const torch::Tensor& out);

}  // namespace blt::model
