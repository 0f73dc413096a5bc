// The whole configuration of a run: one section per subsystem.
#pragma once
#include <string>
#include <vector>

#include "blt/config/yaml_config.h"
#include "blt/data/data_config.h"
#include "blt/model/model_config.h"
#include "blt/parallel/dist_config.h"
#include "blt/train/train_config.h"

namespace blt {

struct RunConfig {
  model::ModelConfig model;
  data::DataConfig data;
  train::TrainConfig train;
  parallel::DistConfig dist;

  template <class V>
  void visit(V& v) {
    v.field("model", model, "model shape");
    v.field("data", data, "shards and batching");
    v.field("train", train, "optimisation and run length");
    v.field("dist", dist, "multi-process training");
  }
};

// Loads `path` (with includes), applies `--set` overrides, reads it strictly.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides = {});

}  // namespace blt
