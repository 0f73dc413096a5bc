// fsdp's hook (model/unit_hooks.h), which gathers a unit just before its module
// runs and frees it right after.
//
// Around a transformer block, also in backward: the gradient reaching the
// block's output first gathers it again, and once the gradient has passed back
// through the block to its input (by then autograd has accumulated every
// parameter gradient of the block: those nodes run first), the unit's gradients
// are reduce-scattered and the unit is freed. So only the blocks in use are
// whole, in forward and in backward. While a block runs, the gathering of the
// block that runs next (forward: the following one, backward: the preceding
// one) is already in flight.
//
// Around an embedding table, forward only: an embedding's backward needs the
// looked-up rows' gradients, not the table, so nothing is gathered for it; the
// table's gradient is reduce-scattered with the step.
#pragma once
#include "blt/model/unit_hooks.h"
#include "blt/parallel/sharded_unit.h"

namespace blt::parallel {

class GatherHook : public model::UnitHook {
 public:
  enum class Kind { kBlock, kTable };
  GatherHook(ShardedUnit& unit, Kind kind) : unit_(unit), kind_(kind) {}
  // Blocks: the blocks that run after and before this one (null at the ends).
  void set_neighbours(ShardedUnit* next, ShardedUnit* previous) {
    next_ = next;
    previous_ = previous;
  }
  torch::Tensor enter(const torch::Tensor& input) override;
  torch::Tensor leave(const torch::Tensor& output) override;
  // Backward of a block, from its output to its input.
  void begin_backward();
  void end_backward();

 private:
  ShardedUnit& unit_;
  Kind kind_;
  ShardedUnit* next_ = nullptr;
  ShardedUnit* previous_ = nullptr;
};

}  // namespace blt::parallel
