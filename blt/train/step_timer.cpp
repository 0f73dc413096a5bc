#include "blt/train/step_timer.h"

#include <algorithm>
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

StepTimer::StepTimer(const torch::Device& device) : clock_(std::make_unique<Clock>(device)) {
  model::set_component_probe(this);
}

StepTimer::~StepTimer() { model::set_component_probe(nullptr); }

void StepTimer::begin_step() {
  steps_.emplace_back();
  steps_.back().begin = clock_->record();
}

void StepTimer::add_mark(const std::string& part, int phase) {
  if (steps_.empty() || steps_.back().end >= 0) fail("StepTimer: a mark ({}) outside a step", part);
  steps_.back().marks.push_back({clock_->record(), part, phase});
}

void StepTimer::mark(const std::string& part) { add_mark(part, -1); }

void StepTimer::end(Phase phase) {
  static const std::array<std::string, 4> last = {"data/patching", "forward/loss", "", "update"};
  std::string part = last[static_cast<std::size_t>(phase)];
  if (phase == Phase::Backward) part = "backward/" + (parts_.empty() ? std::string("model") : parts_.front());
  if (phase == Phase::Data) parts_.clear();  // the next forward's parts start afresh
  add_mark(part, static_cast<int>(phase));
}

int StepTimer::forward_done(const char* part) {
  parts_.emplace_back(part);
  mark("forward/" + parts_.back());
  return static_cast<int>(parts_.size()) - 1;
}

// The gradient of part `index`'s output is complete: the backward of the part after it (or of
// the loss, after the last part) has run since the previous mark.
void StepTimer::backward_reached(int index) {
  const auto next = static_cast<std::size_t>(index) + 1;
  mark("backward/" + (next < parts_.size() ? parts_[next] : std::string("loss")));
}

int StepTimer::end_step() {
  if (steps_.empty() || steps_.back().end >= 0) fail("StepTimer: end_step() without begin_step()");
  steps_.back().end = clock_->record();
  return static_cast<int>(steps_.size()) - 1;
}

void StepTimer::count(int index, double bytes, double patches, double flops) {
  auto& s = steps_.at(static_cast<std::size_t>(index));
  s.bytes = bytes, s.patches = patches, s.flops = flops;
}

std::vector<StepTiming> StepTimer::report() {
  clock_->wait();
  std::vector<StepTiming> out;
  for (const auto& s : steps_) {
    if (s.end < 0) continue;
    StepTiming t;
    t.total_ms = clock_->ms(s.begin, s.end);
    int previous = s.begin, phase_start = s.begin;
    for (const auto& m : s.marks) {
      const double ms = clock_->ms(previous, m.point);
      previous = m.point;
      auto it = std::find_if(t.part_ms.begin(), t.part_ms.end(), [&](const auto& p) { return p.first == m.part; });
      if (it == t.part_ms.end()) {
        t.part_ms.emplace_back(m.part, ms);
      } else {
        it->second += ms;
      }
      if (m.phase >= 0) {
        t.phase_ms[static_cast<std::size_t>(m.phase)] += clock_->ms(phase_start, m.point);
        phase_start = m.point;
      }
    }
    t.bytes = s.bytes, t.patches = s.patches, t.flops = s.flops;
    out.push_back(t);
  }
  return out;
}

}  // namespace blt::train
