// Multi-process settings. Extended by the distributed issue.
#pragma once
#include <cstdint>
#include <string>

#include "blt/config/yaml_config.h"

namespace blt::parallel {

struct DistConfig {
  std::string strategy = "ddp";
  int64_t timeout_s = 300;

  template <class V>
  void visit(V& v) {
    using namespace blt::config;
    v.field("strategy", strategy, "ddp, zero2 or fsdp", one_of({"ddp", "zero2", "fsdp"}));
    v.field("timeout_s", timeout_s, "seconds before a stuck collective is an error", at_least<int64_t>(1));
  }
};

}  // namespace blt::parallel
