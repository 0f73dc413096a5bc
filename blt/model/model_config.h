// Model shapes. Placeholder owned by the model issue, which fills in the BLT fields.
#pragma once
#include <cstdint>
#include <string>

#include "blt/config/yaml_config.h"

namespace blt::model {

struct ModelConfig {
  std::string type = "blt";

  template <class V>
  void visit(V& v) {
    using namespace blt::config;
    v.field("type", type, "blt, byte_lm (entropy model) or token_lm", one_of({"blt", "byte_lm", "token_lm"}));
  }
};

}  // namespace blt::model
