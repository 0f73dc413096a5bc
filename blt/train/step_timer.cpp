#include "blt/train/step_timer.h"

#include <chrono>

#ifdef BLT_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include "blt/core/error.h"

namespace blt::train {

// Points in the device's work queue, by index; elapsed milliseconds between two of them.
struct StepTimer::Clock {
  explicit Clock(const torch::Device& device) : cuda(device.is_cuda()) {}

  int record() {
#ifdef BLT_WITH_CUDA
    if (cuda) {
      events.push_back(std::make_unique<at::cuda::CUDAEvent>(cudaEventDefault));
      events.back()->record(c10::cuda::getCurrentCUDAStream());
      return static_cast<int>(events.size()) - 1;
    }
#endif
    host.push_back(std::chrono::steady_clock::now());
    return static_cast<int>(host.size()) - 1;
  }

  void wait() {
#ifdef BLT_WITH_CUDA
    if (cuda && !events.empty()) events.back()->synchronize();
#endif
  }

  double ms(int from, int to) const {
#ifdef BLT_WITH_CUDA
    if (cuda) return events[from]->elapsed_time(*events[to]);
#endif
    return std::chrono::duration<double, std::milli>(host[to] - host[from]).count();
  }

  bool cuda;
#ifdef BLT_WITH_CUDA
  std::vector<std::unique_ptr<at::cuda::CUDAEvent>> events;
#endif
  std::vector<std::chrono::steady_clock::time_point> host;
};

StepTimer::StepTimer(const torch::Device& device) : clock_(std::make_unique<Clock>(device)) {}
StepTimer::~StepTimer() = default;

void StepTimer::begin_step() {
  steps_.emplace_back();
  steps_.back().begin = clock_->record();
}

void StepTimer::end(Phase phase) {
  if (steps_.empty() || steps_.back().end >= 0) fail("StepTimer: end() outside a step");
  steps_.back().marks.emplace_back(clock_->record(), phase);
}

void StepTimer::end_step(double bytes, double patches, double flops) {
  if (steps_.empty() || steps_.back().end >= 0) fail("StepTimer: end_step() without begin_step()");
  auto& s = steps_.back();
  s.end = clock_->record();
  s.bytes = bytes, s.patches = patches, s.flops = flops;
}

std::vector<StepTiming> StepTimer::report() {
  clock_->wait();
  std::vector<StepTiming> out;
  for (const auto& s : steps_) {
    if (s.end < 0) continue;
    StepTiming t;
    t.total_ms = clock_->ms(s.begin, s.end);
    int previous = s.begin;
    for (const auto& [point, phase] : s.marks) {
      t.phase_ms[static_cast<std::size_t>(phase)] += clock_->ms(previous, point);
      previous = point;
    }
    t.bytes = s.bytes, t.patches = s.patches, t.flops = s.flops;
    out.push_back(t);
  }
  return out;
}

}  // namespace blt::train
