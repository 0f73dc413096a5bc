// Where a training step's time goes, measured without slowing the step down.
//
// The trainer marks the end of each phase of a step (data, forward, backward,
// update); on CUDA each mark records an event on the current stream, so nothing
// waits for the GPU until report() reads them all after the run. On the CPU the
// work is synchronous and the host clock is the time. `blt bench` uses it
// (docs/perf.md); `blt train` passes none.
#pragma once
#include <array>
#include <memory>
#include <vector>

#include <torch/torch.h>

namespace blt::train {

enum class Phase { Data, Forward, Backward, Update };
constexpr std::array<const char*, 4> kPhaseNames = {"data", "forward", "backward", "update"};

struct StepTiming {
  double total_ms = 0;
  std::array<double, 4> phase_ms{};  // summed over micro-batches, by Phase
  double bytes = 0, patches = 0, flops = 0;  // of the whole step, over every rank
};

class StepTimer {
 public:
  explicit StepTimer(const torch::Device& device);
  ~StepTimer();

  void begin_step();
  // The time since the previous mark (or begin_step) belongs to `phase`.
  void end(Phase phase);
  void end_step(double bytes, double patches, double flops);

  // Waits for the device once and returns every finished step, in order.
  std::vector<StepTiming> report();

 private:
  struct Clock;  // CUDA events or the host clock
  std::unique_ptr<Clock> clock_;
  struct Step {
    std::vector<std::pair<int, Phase>> marks;  // clock point index, phase it ends
    int begin = -1, end = -1;
    double bytes = 0, patches = 0, flops = 0;
  };
  std::vector<Step> steps_;
};

}  // namespace blt::train
