// Writing a blt BLT in the Hugging Face `BltForCausalLM` layout (transformers'
// model_type "blt"), the inverse of hf_import:
//   DIR/config.json         BltConfig with its four sub-configs
//   DIR/model.safetensors   the BLT under its HF names, plus its entropy model as
//                           model.patcher.* when the BLT patches by entropy
// Names and shapes come from the shared table in hf_layout.h; docs/hf-layout.md
// describes the layout. What the HF model cannot express is an error naming the
// blt config key.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "blt/model/causal_lm.h"
#include "blt/model/model_config.h"

namespace blt::model {

struct HfExportOptions {
  // HF BLT attends causally over the whole sequence: a model with a sliding
  // window or document masks computes the same logits there only on sequences
  // no longer than the window and without EOS inside. Without this, such a
  // model is refused.
  bool full_attention = false;
};

// config.json for `blt` (type blt) and its entropy model (`entropy`, a byte_lm;
// required exactly when blt patches by entropy, else null).
nlohmann::json hf_config_from(const ModelConfig& blt, const ModelConfig* entropy, const HfExportOptions& options);

// Writes config.json and model.safetensors into `dir` (created if needed).
// `entropy` as above. Every parameter goes under its HF name with its dtype.
void write_hf_checkpoint(const std::string& dir, const CausalLM& blt, const CausalLM* entropy,
                         const HfExportOptions& options);

}  // namespace blt::model
