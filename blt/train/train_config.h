// Optimisation and run-length settings. Extended by the training issue.
#pragma once
#include <cstdint>
#include <string>

#include "blt/config/yaml_config.h"

namespace blt::train {

struct TrainConfig {
  std::string out_dir = "runs/default";
  int64_t steps = 1000;
  int64_t seed = 0;
  int64_t log_every = 10;

  template <class V>
  void visit(V& v) {
    using namespace blt::config;
    v.field("out_dir", out_dir, "run directory: checkpoints, metrics.jsonl, config.yaml, logs");
    v.field("steps", steps, "optimizer steps", at_least<int64_t>(0));
    v.field("seed", seed, "seed of initialisation and sampling", at_least<int64_t>(0));
    v.field("log_every", log_every, "steps between progress lines", at_least<int64_t>(1));
  }
};

}  // namespace blt::train
