// `blt train`: one process or many (torchrun environment), any model type.
//
// The step: for each of grad_accum micro-batches, the loader's rows become
// inputs/targets, a BLT's patch lengths come from its patcher on the device,
// the summed next-id loss divided by the global target count is backpropagated;
// then gradients are summed over ranks, clipped, and AdamW steps at the
// scheduled learning rate. Checkpoints hold everything needed to continue
// bit-exactly (on CPU): weights, optimizer state, loader position, RNG, counters.
#pragma once
#include <functional>
#include <optional>

#include "blt/config/run_config.h"
#include "blt/parallel/launch_env.h"
#include "blt/train/evaluate.h"
#include "blt/train/step_timer.h"

namespace blt::train {

struct TrainOutcome {
  int64_t steps = 0;                // optimizer steps done in total (including before a resume)
  double last_loss = 0;             // of the last step, mean nats per target
  std::optional<EvalResult> valid;  // final validation, if a validation set is configured
  // With TrainOptions::time_steps: every step's phases (train/step_timer.h), this rank's device,
  // its peak CUDA memory and the peak FLOP/s that MFU is measured against (0 on CPU).
  std::vector<StepTiming> step_timings;
  torch::Device device = torch::kCPU;
  int64_t peak_memory_bytes = 0;
  double peak_flops = 0;
};

// What `blt bench` changes about a run; `blt train` uses the defaults.
struct TrainOptions {
  bool time_steps = false;       // time every step's phases on the run's device
  bool save_final_model = true;  // OUT/model at the end
  std::function<void(int64_t step)> before_step;  // called with each step's number (from 1) before it runs
};

TrainOutcome train(const RunConfig& config, const parallel::LaunchEnv& env, const TrainOptions& options = {});

}  // namespace blt::train
