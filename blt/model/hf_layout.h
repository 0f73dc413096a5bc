// The one name/shape table between blt models and the Hugging Face
// `BltForCausalLM` layout, used by both directions (hf_import, hf_export):
// every parameter of a blt model with its shape, and the HF name it has in
// model.safetensors. docs/hf-layout.md section 2 lists the result.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "blt/model/model_config.h"

namespace blt::model {

struct TensorShape {
  std::string name;
  std::vector<int64_t> shape;
};

// Every parameter of the blt model built from `config` (type blt or byte_lm), in
// module order, with its shape: what a checkpoint of that config must hold.
std::vector<TensorShape> parameter_layout(const ModelConfig& config);

// The HF name of a blt parameter: "model." + name, except lm_head; for the
// entropy model (the HF patcher) "model.patcher." + name.
std::string hf_name_of_blt(const std::string& name);
std::string hf_name_of_entropy(const std::string& name);

std::string shape_text(const std::vector<int64_t>& shape);

}  // namespace blt::model
