// FLOP accounting (spec section 5): matmul FLOPs from the shapes, plus the
// attention term of the reference (3.5 x the forward's 4 * d * keys per query
// for training, the forward's alone for inference). Embedding and hash-table
// lookups cost nothing. docs/flops.md writes the formulas out.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "blt/model/model_config.h"

namespace blt::train {

struct FlopComponent {
  std::string name;
  double flops;  // per sequence
};

// FLOPs of one sequence of `positions` ids cut into `patches` patches (BLT; the
// other types ignore it), broken down by component. `training` counts forward
// and backward; otherwise forward only. The entropy model (a byte LM, forward
// only: it is not trained by the BLT run) is counted when its config is given.
std::vector<FlopComponent> sequence_flops(const model::ModelConfig& config, int64_t positions, double patches,
                                          bool training, const model::ModelConfig* entropy_model = nullptr);
double total(const std::vector<FlopComponent>& components);

// Mean keys per query of causal attention over `length` positions with a
// sliding window (0 = none), in the continuous form: length / 2 without a window.
double mean_attended_keys(double length, double window);

}  // namespace blt::train
