// The model of a checkpoint directory of either kind: a model checkpoint
// (config.yaml + model.safetensors, e.g. a run's OUT/model), or a training
// checkpoint step directory (run.yaml + sharded parameters from any number of
// ranks, parallel/sharded_checkpoint.h), whose shards are assembled here.
#pragma once
#include <memory>
#include <string>

#include "blt/model/causal_lm.h"

namespace blt::train {

// The resolved run config in a training checkpoint step directory.
inline constexpr const char* kRunConfigFile = "run.yaml";

bool is_training_checkpoint(const std::string& dir);
// The model config of either kind of checkpoint, without loading any weights.
model::ModelConfig checkpoint_model_config(const std::string& dir);
std::shared_ptr<model::CausalLM> load_checkpoint_model(const std::string& dir);

}  // namespace blt::train
