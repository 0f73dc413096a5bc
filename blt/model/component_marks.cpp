#include "blt/model/component_marks.h"

#include <atomic>

namespace blt::model {

namespace {
std::atomic<ComponentProbe*> g_probe{nullptr};
}  // namespace

void set_component_probe(ComponentProbe* probe) { g_probe = probe; }

torch::Tensor mark_component(const char* part, const torch::Tensor& out) {
  ComponentProbe* probe = g_probe.load();
  // Passes without gradients (the patcher's entropy model, evaluation) are not the step's parts.
  if (probe == nullptr || !torch::GradMode::is_enabled()) return out;
  const int index = probe->forward_done(part);
  if (out.requires_grad()) out.register_hook([probe, index](const torch::Tensor&) { probe->backward_reached(index); });
  return out;
}

}  // namespace blt::model
