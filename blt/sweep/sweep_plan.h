// A sweep's runs, each with its resolved run config and the numbers derived
// from it: parameters, patches per sequence, steps, training bytes and FLOPs
// (the project's accounting, train/flops.h), inference FLOPs per byte.
//
// Patches per sequence are measured by patching the run's first training
// batches (as train.flop_budget does with one; a run shorter than the sample is
// priced on the batches it trains on); entropy runs need the sweep's
// entropy model and the bpe runs its token shards (the corpus encoded by
// blt-tokenizer), so before those exist the plan uses the target mean patch and
// an assumed bytes/token, marked as estimates.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "blt/config/run_config.h"
#include "blt/sweep/sweep_config.h"

namespace blt::sweep {

struct PlannedRun {
  std::string name;    // SIZE-SCHEME-BUDGET, also its directory name
  std::string size, scheme, patching;
  double budget = 0;   // rule flop_budget: the budget it was given
  std::string dir;
  RunConfig config;    // what `blt train` runs (dir/run.yaml)
  int64_t parameters = 0;
  double positions_per_step = 0;  // ids (bytes or tokens) over all ranks
  double bytes_per_position = 1;  // bpe: bytes per token
  double patches_per_sequence = 0;
  bool estimated = false;         // entropy model / token shards not made yet
  int64_t steps = 0;
  double flops_per_step = 0;
  double train_flops = 0;         // steps x flops_per_step
  double train_bytes = 0;
  double inference_flops_per_byte = 0;
};

// The files the sweep makes for itself before its runs.
struct SweepFiles {
  std::string entropy_dir;   // the entropy model's run directory
  std::string entropy_model; // its final model (entropy_dir/model)
  std::string tokenizer;     // the bpe tokenizer (blt-tokenizer train)
  std::string tokens;        // the corpus as token shards: tokens/train, tokens/valid (blt-tokenizer encode)

  explicit SweepFiles(const SweepConfig& c)
      : entropy_dir(c.out_dir + "/entropy-model"), entropy_model(entropy_dir + "/model"),
        tokenizer(c.out_dir + "/tokenizer.model"), tokens(c.out_dir + "/tokens") {}
};

// The byte shards the bpe runs' token shards are made from.
struct TokenSource {
  std::string train, valid;  // valid may be empty
};

struct Plan {
  SweepConfig sweep;
  std::optional<RunConfig> entropy_run;  // when a scheme needs it
  std::optional<TokenSource> token_source;  // when a scheme is bpe
  std::vector<PlannedRun> runs;
};

bool uses_patching(const SweepConfig& c, const std::string& patching);

// The entropy model's run config (base + entropy_model).
RunConfig entropy_run_config(const SweepConfig& c);

// Every run of the sweep, in order (size, scheme, budget). Reads the entropy
// model and the token shards when they exist; trains nothing.
Plan make_plan(const SweepConfig& c, int world_size);

// The plan as an aligned text table.
std::string format_plan(const Plan& plan);

}  // namespace blt::sweep
