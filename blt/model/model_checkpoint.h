// A model checkpoint is a directory:
//   config.yaml        the resolved model config (a `model:` section, as in run configs)
//   model.safetensors  every parameter under its module-tree name (e.g. local_encoder.layers.0.mlp.up_proj.weight)
// A BLT whose patching.entropy_model is a relative path finds its entropy model (a
// byte_lm checkpoint directory) relative to the checkpoint directory.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "blt/core/safetensors.h"
#include "blt/model/causal_lm.h"
#include "blt/model/model_config.h"

namespace blt::model {

inline constexpr const char* kCheckpointConfigFile = "config.yaml";
inline constexpr const char* kCheckpointWeightsFile = "model.safetensors";

// Reads and validates `dir`/config.yaml.
ModelConfig read_checkpoint_config(const std::string& dir);

// Writes model.safetensors (loading one tensor at a time) and config.yaml into `dir` (created if needed).
void write_model_checkpoint(const std::string& dir, const ModelConfig& config,
                            std::vector<safetensors::PendingTensor> tensors);
void save_model_checkpoint(const std::string& dir, const CausalLM& model);

// Copies every parameter of `module` from `weights` (converting the dtype). Every
// parameter must be present with its exact shape and the file may hold nothing
// else; the error names the first offending tensor.
void load_parameters(torch::nn::Module& module, const safetensors::Reader& weights);

class Patcher;
class TransformerLM;

// The byte_lm checkpoint in `dir`, in eval mode, for patching. `source` says where
// the path came from (e.g. "model.patching.entropy_model") for the error when
// `dir` holds another model type.
std::shared_ptr<TransformerLM> load_entropy_model(const std::string& dir, const std::string& source);

// The entropy model directory a BLT checkpoint's config names (patching.entropy_model,
// a relative path resolved against `dir`); empty for a mode that needs no model,
// no entropy_model, or a config of another type.
std::string checkpoint_entropy_model_dir(const std::string& dir, const ModelConfig& config);

// The patcher a BLT checkpoint's config asks for: for an entropy mode with an
// entropy_model, that byte LM (resolved relative to `dir`) is loaded; null for a
// mode that needs no model, or a config of another type.
std::shared_ptr<Patcher> load_checkpoint_patcher(const std::string& dir, const ModelConfig& config);

// Builds the model of `dir`/config.yaml and loads its weights. For a BLT with an
// entropy patching mode and an entropy_model, that byte LM is loaded too and
// becomes the model's patcher.
std::shared_ptr<CausalLM> load_model_checkpoint(const std::string& dir);

}  // namespace blt::model
