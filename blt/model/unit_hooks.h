// Calls a module makes around its own forward pass, for whoever must act just
// before and after it: fsdp gathers a transformer block's parameters on entry
// and frees them on exit (LibTorch's C++ modules have no forward hooks). A
// module without a registered hook runs as if none of this existed.
#pragma once
#include <torch/torch.h>

namespace blt::model {

class UnitHook {
 public:
  virtual ~UnitHook() = default;
  // Before the module's forward; returns the input it should use.
  virtual torch::Tensor enter(const torch::Tensor& input) = 0;
  // After it; returns the output it should give back.
  virtual torch::Tensor leave(const torch::Tensor& output) = 0;
};

// Registers `hook` for `module` (null removes it). Not thread-safe: set hooks
// before forward passes run.
void set_unit_hook(const torch::nn::Module* module, UnitHook* hook);
// The hook of `module`, or null.
UnitHook* unit_hook(const torch::nn::Module* module);

// run(input) as `module`'s forward: between its hook's enter and leave, if it has one.
template <class Run>
torch::Tensor with_unit_hook(const torch::nn::Module* module, const torch::Tensor& input, Run run) {
  UnitHook* hook = unit_hook(module);
  return hook ? hook->leave(run(hook->enter(input))) : run(input);
}

}  // namespace blt::model
