// dist.strategy zero2 and fsdp: the parameters are split into units
// (parallel/param_units) and each unit's flat space into one chunk per rank
// (parallel/sharded_unit). AdamW sees only this rank's chunks: one optimizer
// parameter per piece of a model parameter inside them, so weight decay still
// follows the parameter the elements belong to. A step reduce-scatters the
// gradients, clips them by the global norm (squared chunk norms summed over
// ranks) and steps the chunks.
//   zero2  keeps every unit gathered: the updated chunks are all-gathered after each step. In
//          the backward that completes a step, each transformer block's gradients are
//          reduce-scattered as soon as the block's backward is done (parallel/sharded_hooks),
//          while backward goes on; the other units' after it.
//   fsdp   keeps only the chunks between uses. Transformer blocks and embedding tables
//          are gathered by their hooks (parallel/sharded_hooks) just before their forward and
//          freed after it; a block is gathered again for its backward and reduce-scattered
//          right after it, and each block prefetches the next one to run. The other units
//          (cross attention, norms, projections, head) stay whole: gathered again after each
//          step, ready for the next forward pass.
// Reduce-scatters started in backward are waited for (by the stream, not the host) two blocks
// later or after backward, so they overlap the backward of the blocks before.
// With train.optimizer.sparse_hash_rows the hash table stays out of the units: whole on every
// rank, its rows exchanged and updated as under ddp (parallel/hash_rows.h), so a step moves the
// rows it used instead of reduce-scattering and updating a dense 3 G-parameter gradient.
#pragma once
#include <memory>
#include <optional>
#include <vector>

#include "blt/parallel/grad_sync.h"
#include "blt/parallel/hash_rows.h"
#include "blt/parallel/param_update.h"
#include "blt/parallel/sharded_hooks.h"
#include "blt/parallel/sharded_unit.h"

namespace blt::parallel {

class ShardedUpdate : public ParamUpdate {
 public:
  // `reduce_dtype`: what gradients are reduce-scattered in (nullopt: the parameters' dtype).
  ShardedUpdate(model::CausalLM& model, Comm& comm, const train::OptimizerConfig& config, bool fsdp,
                std::optional<c10::ScalarType> reduce_dtype = std::nullopt);
  ~ShardedUpdate() override;
  // zero2: the coming backward reduce-scatters each block as it completes (fsdp's always does).
  void before_last_backward() override { reduce_in_backward_ = true; }

 private:
  void sum_gradients_over_ranks() override;
  torch::Tensor step_with_summed_gradients(double lr, double max_norm) override;

  // Where optimizer parameter i lives: a piece of unit `unit`'s chunk.
  struct Segment {
    std::size_t unit;
    FlatPiece piece;
  };

  ShardedUpdate(model::CausalLM& model, std::vector<train::AdamW::Param> params, Comm& comm,
                const train::OptimizerConfig& config, bool fsdp, std::optional<c10::ScalarType> reduce_dtype);
  std::vector<SliceSpec> saved_slices() const override;
  std::vector<SliceSpec> loaded_slices() const override;
  std::vector<SliceSpec> chunk_slices() const;  // this rank's chunk pieces
  void after_load() override { chunks_changed(); }
  void gather_whole() override;
  void release_whole() override;
  // zero2 all-gathers the chunks into the parameters; fsdp frees the hooked units and
  // gathers the others.
  void chunks_changed();

  std::vector<std::unique_ptr<ShardedUnit>> units_;
  // Per unit: fsdp's GatherHook (blocks, tables), zero2's ReduceHook (blocks), else null.
  std::vector<std::unique_ptr<BlockHook>> hooks_;
  std::vector<const torch::nn::Module*> hooked_modules_;
  BackwardReduces reduces_{2};
  bool reduce_in_backward_ = false;  // zero2's hooks are armed (until the gradients are summed)
  std::vector<Segment> segments_;  // optimizer parameters 0 .. segments_.size() - 1
  // The hash table under sparse_hash_rows (else undefined): the optimizer's last parameter.
  torch::Tensor table_;
  std::unique_ptr<GradSync> table_rows_;
  std::unique_ptr<TableCatchUp> catch_up_;
  bool fsdp_;
};

}  // namespace blt::parallel
