// Activation checkpointing: run a block without keeping its intermediate
// activations, and run it again during backward to get them back. Trades one
// extra forward of the block for the memory of everything inside it (per
// transformer layer: attention scores/outputs, the SwiGLU's 3 x ffn_dim rows).
#pragma once
#include <functional>
#include <vector>

#include <torch/torch.h>

namespace blt::model {

using CheckpointedBlock = std::function<torch::Tensor(const std::vector<torch::Tensor>&)>;

// block(inputs), keeping only `inputs` for backward. Gradients reach the inputs
// and, through the recomputation, the parameters the block uses. The block must
// be deterministic (no dropout) and must read every differentiable tensor it
// depends on from `inputs`, not from its captures: a captured tensor that needs
// a gradient would not get one. Recomputation runs under the autocast state of
// the original call.
torch::Tensor checkpointed(CheckpointedBlock block, const std::vector<torch::Tensor>& inputs);

}  // namespace blt::model
