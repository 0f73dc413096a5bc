// One unit's parameters sharded over the ranks (zero2, fsdp). The unit's flat
// space (FlatLayout) is one tensor whose views are the model's parameters (the
// modules keep their tensors; their data now lives there). This rank keeps the
// master copy of its chunk of that space (in the parameters' dtype); gradients
// arrive as this rank's chunk of their sum over ranks (reduce-scatter), and the chunks of every rank
// are all-gathered back into the flat tensor. release() frees the flat tensor's
// memory in place, so that tensors autograd saved from the parameters free it
// too, and gather() refills that same memory (as PyTorch's FSDP does).
#pragma once
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "blt/parallel/comm.h"
#include "blt/parallel/flat_layout.h"
#include "blt/parallel/param_units.h"

namespace blt::parallel {

class ShardedUnit {
 public:
  // Takes the master chunk from the parameters' current values; `decayed` names
  // the parameters that get weight decay. The unit starts gathered. A unit
  // `kept_whole` (zero2: never released) in a job of one process has no copy:
  // its master chunk is the flat tensor itself (the master dtype is the
  // parameters'), and gather() has nothing to do.
  // Gradients are reduce-scattered in `reduce_dtype` (nullopt: the parameters' own) and
  // accumulated into grad() in the master dtype.
  ShardedUnit(const ParamUnit& unit, const std::set<std::string>& decayed, Comm& comm, bool kept_whole,
              std::optional<c10::ScalarType> reduce_dtype = std::nullopt);

  const std::string& name() const { return name_; }
  const FlatLayout& layout() const { return layout_; }
  // This rank's pieces of the unit's parameters (offsets into master() and grad()).
  const std::vector<FlatPiece>& pieces() const { return pieces_; }
  torch::Tensor& master() { return master_; }
  // This rank's chunk of the gradient summed over ranks, accumulated over
  // reduce_scatter_grads() calls since zero_grad().
  torch::Tensor& grad() { return grad_; }

  // Adds the parameters' .grad() summed over ranks to grad() (missing ones count
  // as zero) and clears the parameters' gradients.
  void reduce_scatter_grads();
  // The same in two halves, so that the collective runs while later work does (backward's):
  // start takes the gradients (clearing them) and starts it; finish adds its result to grad()
  // (on CUDA the stream waits for it, not the host). Several may be in flight; finish completes
  // the oldest.
  void start_reduce_scatter_grads();
  void finish_reduce_scatter_grads();
  bool reduce_in_flight() const { return !reducing_.empty(); }
  void zero_grad();
  // Whether any parameter holds a .grad() not yet reduce-scattered.
  bool has_param_grads() const;
  // Makes every parameter hold its full value, assembled from every rank's
  // master chunk (again, when it already does: zero2 after a step), or
  // completes the gathering start_gather() began.
  void gather();
  // Begins gathering (fsdp prefetch); a no-op when gathered or already begun.
  void start_gather();
  // Frees the parameters' memory; they must not be read until the next gather().
  void release();
  bool gathered() const { return gathered_; }

 private:
  std::string name_;
  std::vector<torch::Tensor> params_;
  FlatLayout layout_;
  std::vector<FlatPiece> pieces_;
  Comm& comm_;
  torch::Tensor full_;  // the flat space; params_ are views of it
  torch::Tensor master_, grad_;
  std::optional<c10::ScalarType> reduce_dtype_;
  bool aliased_;  // master_ is full_ (one process, kept whole)
  bool gathered_ = true;
  std::optional<Comm::PendingGather> pending_;  // begun by start_gather()
  std::deque<Comm::PendingReduce> reducing_;    // begun by start_reduce_scatter_grads(), oldest first
};

}  // namespace blt::parallel
