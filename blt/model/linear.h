// The bias-free linear layer of every projection in blt's models, and the low-precision
// compute copy its weight can keep.
//
// Under bf16 autocast a float32 weight is cast to bf16 by every forward pass that uses it (each
// micro-batch, each activation-checkpoint recompute): for blt-1b ~1.46 G parameters, ~3.5 ms of
// a step on an H200 (docs/perf.md). A weight that keeps a compute copy is cast once, and then
// not again while it stays unchanged: the optimizer writes the rounded update into the copy in
// the pass that updates the weight (train/adamw.h), so training casts nothing at all.
//
// The copy is current while the weight's version counter and storage are those it was cast
// from. Writes through the tensor API (a checkpoint load's copy_, an in-place op) advance the
// counter, and the next forward casts again. A write that bypasses it (a CUDA kernel or a
// collective into the weight's storage) leaves the counter as it was, so it must store the
// rounded new value into the copy in the same pass: only copies given to every such writer are
// safe, which is why parallel/ keeps them under ddp alone (zero2's and fsdp's all-gathers write
// the weights) and the patcher for its frozen entropy model.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <vector>

namespace blt::model {

class ComputeCopy {
 public:
  ComputeCopy(torch::Tensor weight, torch::ScalarType dtype);
  torch::ScalarType dtype() const { return dtype_; }
  const torch::Tensor& weight() const { return weight_; }
  // The copy, cast from the weight first when it is not current.
  torch::Tensor current();
  // For a writer that updates the weight without the tensor API: the copy's storage, into which
  // it stores the rounded new value in the same pass (undefined until a forward pass has made
  // it, or once the weight has moved to another device: then there is nothing to write).
  torch::Tensor storage() const;
  // For a writer that updated the weight through the tensor API: the copy cast now, current.
  void refresh();

 private:
  torch::Tensor weight_, copy_;
  torch::ScalarType dtype_;
  int64_t version_ = -1;          // weight_._version() when the copy was cast
  const void* source_ = nullptr;  // weight_.data_ptr() then
};

class LinearImpl : public torch::nn::Module {
 public:
  // weight [out, in], initialised as torch::nn::Linear initialises it (init.cpp then sets it
  // for training; drawing the same numbers keeps a seed's model what it was).
  LinearImpl(int64_t in, int64_t out);
  // x [..., in] -> [..., out]. Under autocast to the copy's dtype on x's device, a float32 weight
  // with a compute copy takes the copy (its gradient reaches the weight in float32, as autocast's
  // cast's does); otherwise the weight as it is.
  torch::Tensor forward(const torch::Tensor& x);
  // From now on keep a compute copy in `dtype` (its memory is taken at the first forward that
  // uses it). Returns it, for the optimizer that will write it.
  std::shared_ptr<ComputeCopy> keep_compute_copy(torch::ScalarType dtype);
  // The copy this layer keeps, or null.
  const std::shared_ptr<ComputeCopy>& compute_copy() const { return copy_; }

  torch::Tensor weight;

 private:
  std::shared_ptr<ComputeCopy> copy_;
};
TORCH_MODULE(Linear);

// keep_compute_copy on every Linear of `model` (recursively); their copies, in module order.
std::vector<std::shared_ptr<ComputeCopy>> keep_compute_copies(torch::nn::Module& model, torch::ScalarType dtype);

}  // namespace blt::model
