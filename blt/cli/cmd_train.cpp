#include <cmath>
#include <iostream>

#include <spdlog/spdlog.h>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/config/run_config.h"
#include "blt/core/error.h"
#include "blt/data/corpus_stats.h"
#include "blt/parallel/launch_env.h"
#include "blt/train/trainer.h"

namespace blt::cli {

int train(const Args& args) {
  std::string path;
  std::vector<std::string> overrides;
  ArgParser parser("train",
                   "Train a model (blt, byte_lm or token_lm) from a YAML config. Runs as one process,\n"
                   "or as many under torchrun / scripts/launch.sh (RANK, WORLD_SIZE, ... from the\n"
                   "environment). Run again with the same command to resume from the latest checkpoint.");
  parser.positional("CONFIG", "YAML config file", &path).repeated("set", "override a key: --set a.b=value", &overrides);
  if (!parser.parse(args)) return 0;
  const auto config = load_run_config(path, overrides);
  const auto outcome = train::train(config, parallel::launch_env_from_environment());
  if (outcome.valid && outcome.valid->bytes_per_token > 0) {  // token shards: ids, no byte statistics
    spdlog::info("done: {} steps; validation {:.4f} bits/byte ({:.3f} bytes/token)", outcome.steps,
                 outcome.valid->sums.bits_per_byte(), outcome.valid->bytes_per_token);
  } else if (outcome.valid) {
    const data::ShardSet valid(config.data.valid, false);
    const double unigram = data::compute_stats(valid).unigram_entropy_bits();
    const double bpb = outcome.valid->sums.bits_per_byte();
    const double gain = 100 * (1 - bpb / unigram);
    spdlog::info("done: {} steps; validation {:.4f} bits/byte, {:.1f}% {} the byte-unigram entropy of that text "
                 "({:.4f} bits/byte)",
                 outcome.steps, bpb, std::abs(gain), gain >= 0 ? "below" : "above", unigram);
  } else {
    spdlog::info("done: {} steps; last training loss {:.4f}", outcome.steps, outcome.last_loss);
  }
  return 0;
}

}  // namespace blt::cli
