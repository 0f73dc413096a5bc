// One unit's parameters sharded over the ranks (zero2, fsdp). This rank keeps
// the fp32 master copy of its chunk of the unit's flat space (FlatLayout);
// gradients arrive as this rank's chunk of their sum over ranks
// (reduce-scatter), and the chunks of every rank are all-gathered back into the
// full parameters. The model's parameter tensors stay the same objects: gather()
// points their data at the gathered flat tensor, release() empties it.
#pragma once
#include <set>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "blt/dist/comm.h"
#include "blt/dist/flat_layout.h"
#include "blt/dist/param_units.h"

namespace blt::dist {

class ShardedUnit {
 public:
  // Takes the master chunk from the parameters' current values; `decayed` names
  // the parameters that get weight decay.
  ShardedUnit(const ParamUnit& unit, const std::set<std::string>& decayed, Comm& comm);

  const std::string& name() const { return name_; }
  const FlatLayout& layout() const { return layout_; }
  // This rank's pieces of the unit's parameters (offsets into master() and grad()).
  const std::vector<FlatPiece>& pieces() const { return pieces_; }
  torch::Tensor& master() { return master_; }
  // This rank's chunk of the summed gradient (after reduce_scatter_grads()).
  torch::Tensor& grad() { return grad_; }

  // Sums the parameters' .grad() over ranks into grad() (missing ones count as
  // zero) and clears the parameters' gradients.
  void reduce_scatter_grads();
  // Makes every parameter hold its full value, assembled from every rank's master chunk.
  void gather();
  // Drops the parameters' full values (they become empty until the next gather()).
  void release();

 private:
  std::string name_;
  std::vector<torch::Tensor> params_;
  FlatLayout layout_;
  std::vector<FlatPiece> pieces_;
  Comm& comm_;
  torch::Tensor master_, grad_;
};

}  // namespace blt::dist
