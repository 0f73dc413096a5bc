// dist.strategy zero2 and fsdp: the parameters are split into units
// (dist/param_units) and each unit's flat space into one chunk per rank
// (dist/sharded_unit). AdamW sees only this rank's chunks: one optimizer
// parameter per piece of a model parameter inside them, so weight decay still
// follows the parameter the elements belong to. A step reduce-scatters the
// gradients, clips them by the global norm (squared chunk norms summed over
// ranks), steps the chunks and all-gathers them. zero2 keeps the gathered
// parameters; fsdp releases them after each use and gathers them again before
// the next forward pass or evaluation.
#pragma once
#include <memory>
#include <vector>

#include "blt/dist/sharded_unit.h"
#include "blt/train/param_update.h"

namespace blt::train {

class ShardedUpdate : public ParamUpdate {
 public:
  ShardedUpdate(model::CausalLM& model, dist::Comm& comm, const OptimizerConfig& config, bool release_after_use);
  void gather_params() override;
  void release_params() override;
  double step(double lr, double max_norm) override;

 private:
  // Where optimizer parameter i lives: a piece of unit `unit`'s chunk.
  struct Segment {
    std::size_t unit;
    dist::FlatPiece piece;
  };

  ShardedUpdate(std::vector<AdamW::Param> params, dist::Comm& comm, const OptimizerConfig& config,
                bool release_after_use);
  std::vector<SliceSpec> saved_slices() const override;
  std::vector<SliceSpec> loaded_slices() const override { return saved_slices(); }
  void after_load() override;

  std::vector<std::unique_ptr<dist::ShardedUnit>> units_;
  std::vector<Segment> segments_;
  bool release_after_use_;
  bool gathered_ = true;  // the parameters hold the values of the chunks
};

}  // namespace blt::train
