#include "blt/model/unit_hooks.h"

#include <unordered_map>

namespace blt::model {
namespace {

std::unordered_map<const torch::nn::Module*, UnitHook*>& hooks() {
  static std::unordered_map<const torch::nn::Module*, UnitHook*> registry;
  return registry;
}

}  // namespace

void set_unit_hook(const torch::nn::Module* module, UnitHook* hook) {
  if (hook)
    hooks()[module] = hook;
  else
    hooks().erase(module);
}

UnitHook* unit_hook(const torch::nn::Module* module) {
  const auto& registry = hooks();
  if (registry.empty()) return nullptr;
  const auto it = registry.find(module);
  return it == registry.end() ? nullptr : it->second;
}

}  // namespace blt::model
