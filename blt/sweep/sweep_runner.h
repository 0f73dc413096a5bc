// `blt sweep run`: the sweep's own preparations (entropy model, tokenizer),
// then every run of the plan, one after another, each a child `blt train`
// process in its own directory. Finished runs (RUN/result.json) are skipped;
// an unfinished one is started again and resumes from its last checkpoint, so
// the same command after a crash or a kill continues the sweep.
#pragma once
#include <string>

#include "blt/sweep/sweep_config.h"

namespace blt::sweep {

struct RunOptions {
  std::string program;   // the blt executable the children run
  std::string launcher;  // command prefix for multi-process runs, e.g. "scripts/launch.sh --nproc-per-node 2 --"
  int world_size = 1;    // processes the launcher starts (divides the global batch)
};

void run_sweep(const SweepConfig& sweep, const RunOptions& options);

}  // namespace blt::sweep
