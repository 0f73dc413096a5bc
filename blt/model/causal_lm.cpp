#include "blt/model/causal_lm.h"

#include "blt/core/error.h"
#include "blt/model/blt_model.h"
#include "blt/model/init.h"
#include "blt/model/transformer_layer.h"
#include "blt/model/transformer_lm.h"

namespace blt::model {

void CausalLM::set_activation_checkpointing(bool on) {
  for (const auto& module : modules())
    if (auto* layer = dynamic_cast<TransformerLayerImpl*>(module.get())) layer->set_activation_checkpointing(on);
}

int CausalLM::set_cuda_graphs(bool on) {
  int parts = 0;
  for (const auto& module : modules())
    if (auto* global = dynamic_cast<GlobalTransformerImpl*>(module.get())) {
      global->set_cuda_graphs(on);
      ++parts;
    }
  return parts;
}

namespace {

std::shared_ptr<CausalLM> construct(const ModelConfig& config) {
  config.validate();
  if (config.type == "blt") return std::make_shared<BltModel>(config);
  return std::make_shared<TransformerLM>(config);
}

}  // namespace

std::shared_ptr<CausalLM> build_model(const ModelConfig& config) {
  auto model = construct(config);
  init_weights(*model);
  return model;
}

std::shared_ptr<CausalLM> build_model_on(const ModelConfig& config, const torch::Device& device) {
  std::shared_ptr<CausalLM> model;
  {
    const ParamPlacement placement(device);
    model = construct(config);
  }
  init_weights(*model);
  model->to(device);  // buffers, and anything a module made outside the placement
  return model;
}

std::shared_ptr<CausalLM> build_model_for_load(const ModelConfig& config, const torch::Device& device) {
  const ParamPlacement placement(device);
  return construct(config);
}

ParameterGroups parameter_groups(const torch::nn::Module& model) {
  ParameterGroups groups;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    auto& group = item.value().dim() >= 2 ? groups.decay : groups.no_decay;
    group.emplace_back(item.key(), item.value());
  }
  return groups;
}

int64_t count_parameters(const torch::nn::Module& model) {
  int64_t n = 0;
  for (const auto& p : model.parameters(/*recurse=*/true)) n += p.numel();
  return n;
}

std::vector<ComponentCount> count_by_prefix(const torch::nn::Module& model,
                                            const std::vector<std::pair<std::string, std::string>>& component_prefixes) {
  std::vector<ComponentCount> counts;
  auto slot = [&](const std::string& component) -> int64_t& {
    for (auto& c : counts)
      if (c.component == component) return c.parameters;
    counts.push_back({component, 0});
    return counts.back().parameters;
  };
  for (const auto& [component, prefix] : component_prefixes) slot(component);
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    bool matched = false;
    for (const auto& [component, prefix] : component_prefixes) {
      if (item.key().rfind(prefix, 0) == 0) {
        slot(component) += item.value().numel();
        matched = true;
        break;
      }
    }
    if (!matched) fail("parameter '{}' belongs to no component", item.key());
  }
  return counts;
}

}  // namespace blt::model
