// The hooks (model/unit_hooks.h) by which zero2 and fsdp act inside a forward and backward pass,
// and the reduce-scatters they start there.
//
// Around a transformer block both place an identity on the block's input whose backward runs once
// the gradient has passed back through the block (by then autograd has accumulated every
// parameter gradient of the block: those nodes run first). There the unit's gradients are
// reduce-scattered, started then and finished later (BackwardReduces), so the collective runs while
// backward goes on through the blocks before.
//
// fsdp (GatherHook) also gathers a unit just before its module runs and frees it right after. Around
// a block, also in backward: the gradient reaching the block's output first gathers it again, and
// the reduce-scatter at its input frees it, so only the blocks in use are whole, in forward and in
// backward. While a block runs, the gathering of the block that runs next (forward: the following
// one, backward: the preceding one) is already in flight. Around an embedding table, forward only:
// an embedding's backward needs the looked-up rows' gradients, not the table, so nothing is gathered
// for it; the table's gradient is reduce-scattered with the step.
//
// zero2 (ReduceHook) keeps its units whole; its hook only reduce-scatters a block in the backward
// that completes a step's gradients (the last micro-batch's): earlier ones accumulate as usual.
#pragma once
#include <deque>
#include <set>

#include "blt/model/unit_hooks.h"
#include "blt/parallel/sharded_unit.h"

namespace blt::parallel {

// Reduce-scatters started in backward and finished in order, at most `in_flight` outstanding: the
// oldest is finished (on CUDA: the stream waits for it) when one more starts, so a unit's flat
// gradient buffer lives only while its collective does.
class BackwardReduces {
 public:
  explicit BackwardReduces(std::size_t in_flight) : in_flight_(in_flight) {}
  void start(ShardedUnit& unit);
  // Finishes every one started; started() forgets them.
  void finish_all();
  // Whether `unit` was started since the last finish_all().
  bool started(const ShardedUnit& unit) const { return started_.count(&unit) > 0; }

 private:
  std::size_t in_flight_;
  std::deque<ShardedUnit*> queue_;
  std::set<const ShardedUnit*> started_;
};

// A unit hook that sees a block's backward begin (at its output) and end (at its input).
class BlockHook : public model::UnitHook {
 public:
  virtual void begin_backward() {}
  virtual void end_backward() = 0;

 protected:
  // x with an identity whose backward calls begin_backward (output) or end_backward (input).
  torch::Tensor boundary(const torch::Tensor& x, bool output);
};

class GatherHook : public BlockHook {
 public:
  enum class Kind { kBlock, kTable };
  GatherHook(ShardedUnit& unit, Kind kind, BackwardReduces& reduces) : unit_(unit), kind_(kind), reduces_(reduces) {}
  // Blocks: the blocks that run after and before this one (null at the ends).
  void set_neighbours(ShardedUnit* next, ShardedUnit* previous) {
    next_ = next;
    previous_ = previous;
  }
  torch::Tensor enter(const torch::Tensor& input) override;
  torch::Tensor leave(const torch::Tensor& output) override;
  void begin_backward() override;
  void end_backward() override;

 private:
  ShardedUnit& unit_;
  Kind kind_;
  BackwardReduces& reduces_;
  ShardedUnit* next_ = nullptr;
  ShardedUnit* previous_ = nullptr;
};

class ReduceHook : public BlockHook {
 public:
  // Reduces in backward while `armed` is true (read when the backward reaches the block).
  ReduceHook(ShardedUnit& unit, BackwardReduces& reduces, const bool& armed)
      : unit_(unit), reduces_(reduces), armed_(armed) {}
  torch::Tensor enter(const torch::Tensor& input) override;
  torch::Tensor leave(const torch::Tensor& output) override { return output; }
  void end_backward() override;

 private:
  ShardedUnit& unit_;
  BackwardReduces& reduces_;
  const bool& armed_;
};

}  // namespace blt::parallel
