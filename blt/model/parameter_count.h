// Parameter counts computed from a config's shapes alone (no allocation), per
// component in the order and with the names of CausalLM::parameter_counts().
// Tests check that both agree; `blt model info` uses this for models too large
// to build on the machine at hand.
#pragma once
#include <vector>

#include "blt/model/causal_lm.h"
#include "blt/model/model_config.h"

namespace blt::model {

std::vector<ComponentCount> parameter_counts_from_shapes(const ModelConfig& config);

int64_t total_parameters(const std::vector<ComponentCount>& counts);

}  // namespace blt::model
