#include "blt/model/activation_checkpoint.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>

#include "blt/core/torch_compat.h"

namespace blt::model {
namespace {

// The autograd node of a checkpointed block: holds the block and its inputs,
// recomputes the block with gradients on, and backpropagates through that
// recomputation (re-entrantly: parameter gradients accumulate as usual).
class CheckpointBackward : public torch::autograd::Node {
 public:
  CheckpointBackward(CheckpointedBlock block, const std::vector<torch::Tensor>& inputs,
                     compat::AutocastState autocast)
      : block_(std::move(block)), autocast_(autocast) {
    for (const auto& x : inputs) {
      inputs_.push_back(x.detach());
      needs_grad_.push_back(x.requires_grad());
    }
  }

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    std::vector<torch::Tensor> leaves;
    for (std::size_t i = 0; i < inputs_.size(); ++i) leaves.push_back(inputs_[i].detach().requires_grad_(needs_grad_[i]));
    torch::Tensor output;
    {
      torch::AutoGradMode grad_on(true);
      compat::CudaAutocast autocast(autocast_.enabled, autocast_.dtype);
      output = block_(leaves);
    }
    torch::autograd::backward({output}, {grads[0]});
    torch::autograd::variable_list input_grads;
    for (const auto& leaf : leaves) input_grads.push_back(leaf.requires_grad() ? leaf.grad() : torch::Tensor());
    block_ = nullptr;  // the graph runs once; release the block's captures now
    inputs_.clear();
    return input_grads;
  }

 private:
  CheckpointedBlock block_;
  std::vector<torch::Tensor> inputs_;
  std::vector<bool> needs_grad_;
  compat::AutocastState autocast_;
};

}  // namespace

torch::Tensor checkpointed(CheckpointedBlock block, const std::vector<torch::Tensor>& inputs) {
  if (!torch::GradMode::is_enabled()) return block(inputs);
  torch::Tensor output;
  {
    torch::NoGradGuard no_grad;
    output = block(inputs);
  }
  // Parameters need gradients even when the inputs do not (the first layer's input).
  auto node = std::shared_ptr<CheckpointBackward>(new CheckpointBackward(block, inputs, compat::cuda_autocast_state()),
                                                  torch::autograd::deleteNode);
  node->set_next_edges(torch::autograd::collect_next_edges(inputs));
  torch::autograd::set_history(output, node);
  return output;
}

}  // namespace blt::model
