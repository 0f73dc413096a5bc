// Reading the Hugging Face `BltForCausalLM` layout (transformers' model_type "blt":
// config.json + model.safetensors or a sharded model.safetensors.index.json) into
// blt checkpoints. docs/hf-layout.md lists the names, shapes and semantics.
//   HF_DIR -> OUT/config.yaml, OUT/model.safetensors            the BLT
//             OUT/entropy/config.yaml, OUT/entropy/model.safetensors   its patcher
//                                                               (a byte_lm; only when the HF model has one)
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "blt/model/hf_layout.h"
#include "blt/model/model_config.h"

namespace blt::model {

// The directory, relative to a BLT checkpoint, that holds its imported entropy model.
inline constexpr const char* kImportedEntropyModelDir = "entropy";

struct HfConfigs {
  ModelConfig blt;
  bool has_patcher = false;
  ModelConfig entropy;  // the patcher as a byte_lm; meaningful when has_patcher
  bool tie_word_embeddings = false;
};

// Translates a parsed config.json; `source` (the file) prefixes every error,
// which names the offending key. Shapes the blt model cannot express
// (RoPE scaling, another activation, inconsistent cross_attn_k) are errors.
HfConfigs configs_from_hf(const nlohmann::json& config, const std::string& source);

// Imports HF_DIR into OUT (see above). Every tensor of the HF checkpoint must map to
// a blt parameter with the same shape and vice versa; the first missing,
// unexpected or mis-shaped tensor is an error naming it.
void import_hf_checkpoint(const std::string& hf_dir, const std::string& out_dir);

}  // namespace blt::model
