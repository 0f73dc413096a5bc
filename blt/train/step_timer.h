// Where a training step's time goes, measured without slowing the step down.
//
// The trainer marks the end of each phase of a step (data, forward, backward,
// update); on CUDA each mark records an event on the current stream, so nothing
// waits for the GPU until report() reads them all after the run. On the CPU the
// work is synchronous and the host clock is the time. `blt bench` uses it
// (docs/perf.md); `blt train` passes none.
//
// Inside the phases it also times the model's parts: while a StepTimer lives it is
// the model's component probe (model/component_marks.h), so every part's forward
// and, through gradient hooks, its backward end with a mark. A step's time is cut
// into consecutive slices named "data/loader", "data/patching", "forward/<part>",
// "forward/loss", "backward/loss", "backward/<part>", ..., "update/gradient sum" (summing the
// gradients over ranks: the communication backward did not hide), "update". One StepTimer
// at a time.
#pragma once
#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "blt/model/component_marks.h"

namespace blt::train {

enum class Phase { Data, Forward, Backward, Update };
constexpr std::array<const char*, 4> kPhaseNames = {"data", "forward", "backward", "update"};

struct StepTiming {
  double total_ms = 0;
  std::array<double, 4> phase_ms{};  // summed over micro-batches, by Phase
  // The slices by name, in the order first met, summed over micro-batches; together they are
  // the phases' time.
  std::vector<std::pair<std::string, double>> part_ms;
  double bytes = 0, patches = 0, flops = 0;  // of the whole step, over every rank
};

class StepTimer : public model::ComponentProbe {
 public:
  explicit StepTimer(const torch::Device& device);
  ~StepTimer() override;
  StepTimer(const StepTimer&) = delete;
  StepTimer& operator=(const StepTimer&) = delete;

  void begin_step();
  // The time since the previous mark belongs to `part` (a slice inside a phase).
  void mark(const std::string& part);
  // Ends `phase`; its last slice is data/patching, forward/loss, backward/<the model's first
  // part> or update.
  void end(Phase phase);
  // Ends the step; returns its index for count().
  int end_step();
  // The numbers of step `index`, which the trainer reads from the device later (bytes, patches
  // and FLOPs over every rank).
  void count(int index, double bytes, double patches, double flops);

  // Waits for the device once and returns every finished step, in order.
  std::vector<StepTiming> report();

  int forward_done(const char* part) override;
  void backward_reached(int index) override;

 private:
  struct Clock;  // CUDA events or the host clock
  std::unique_ptr<Clock> clock_;
  struct Mark {
    int point;  // clock point index
    std::string part;
    int phase;  // the Phase it ends, or -1
  };
  struct Step {
    std::vector<Mark> marks;
    int begin = -1, end = -1;
    double bytes = 0, patches = 0, flops = 0;
  };
  void add_mark(const std::string& part, int phase);
  std::vector<Step> steps_;
  std::vector<std::string> parts_;  // the model parts marked in this micro-batch's forward, in order
};

}  // namespace blt::train
