// fsdp's hook around a transformer block (model/unit_hooks.h): the block's unit
// is gathered just before its forward and released right after it; in
// backward, the gradient reaching the block's output first gathers it again,
// and once the gradient has passed back through the block to its input (by
// then autograd has accumulated every parameter gradient of the block: those
// nodes run first), the unit's gradients are reduce-scattered and the unit is
// released. So at most the blocks in use are whole, in forward and backward.
#pragma once
#include "blt/dist/sharded_unit.h"
#include "blt/model/unit_hooks.h"

namespace blt::train {

class FsdpUnitHook : public model::UnitHook {
 public:
  explicit FsdpUnitHook(dist::ShardedUnit& unit) : unit_(unit) {}
  torch::Tensor enter(const torch::Tensor& input) override;
  torch::Tensor leave(const torch::Tensor& output) override;

 private:
  dist::ShardedUnit& unit_;
};

}  // namespace blt::train
