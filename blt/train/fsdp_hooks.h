// fsdp's hooks (model/unit_hooks.h), which gather a unit just before its
// module runs and free it right after.
//
// BlockGatherHook, around a transformer block: in backward, the gradient
// reaching the block's output first gathers it again, and once the gradient has
// passed back through the block to its input (by then autograd has accumulated
// every parameter gradient of the block: those nodes run first), the unit's
// gradients are reduce-scattered and the unit is freed. So only the blocks in
// use are whole, in forward and in backward.
//
// TableGatherHook, around an embedding table: an embedding's backward needs
// only the looked-up rows' gradients, not the table, so nothing is gathered for
// it; the table's gradient is reduce-scattered with the step.
#pragma once
#include "blt/dist/sharded_unit.h"
#include "blt/model/unit_hooks.h"

namespace blt::train {

class BlockGatherHook : public model::UnitHook {
 public:
  explicit BlockGatherHook(dist::ShardedUnit& unit) : unit_(unit) {}
  torch::Tensor enter(const torch::Tensor& input) override;
  torch::Tensor leave(const torch::Tensor& output) override;

 private:
  dist::ShardedUnit& unit_;
};

class TableGatherHook : public model::UnitHook {
 public:
  explicit TableGatherHook(dist::ShardedUnit& unit) : unit_(unit) {}
  torch::Tensor enter(const torch::Tensor& input) override;
  torch::Tensor leave(const torch::Tensor& output) override;

 private:
  dist::ShardedUnit& unit_;
};

}  // namespace blt::train
