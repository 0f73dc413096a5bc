#include "blt/model/model_checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "blt/config/yaml_config.h"
#include "blt/core/error.h"
#include "blt/core/files.h"
#include "blt/model/blt_model.h"
#include "blt/model/patcher.h"
#include "blt/model/transformer_lm.h"

namespace blt::model {
namespace {

namespace fs = std::filesystem;

// The checkpoint's config file: only a model section.
struct CheckpointConfig {
  ModelConfig model;
  template <class V>
  void visit(V& v) {
    v.field("model", model, "model shape");
  }
};

std::string shape_text(c10::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace

ModelConfig read_checkpoint_config(const std::string& dir) {
  const std::string path = (fs::path(dir) / kCheckpointConfigFile).string();
  if (!fs::exists(path)) fail("{}: not a model checkpoint (no {})", dir, kCheckpointConfigFile);
  auto config = config::read<CheckpointConfig>(config::Document::load(path)).model;
  config.validate();
  return config;
}

void write_model_checkpoint(const std::string& dir, const ModelConfig& config,
                            std::vector<safetensors::PendingTensor> tensors) {
  config.validate();
  fs::create_directories(dir);
  safetensors::write((fs::path(dir) / kCheckpointWeightsFile).string(), std::move(tensors), {{"format", "pt"}});
  write_file_atomic((fs::path(dir) / kCheckpointConfigFile).string(), config::to_yaml(CheckpointConfig{config}));
}

void save_model_checkpoint(const std::string& dir, const CausalLM& model) {
  std::vector<safetensors::PendingTensor> tensors;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    const auto tensor = item.value();
    tensors.push_back({item.key(), tensor.scalar_type(), tensor.sizes().vec(), [tensor] { return tensor; }});
  }
  write_model_checkpoint(dir, model.config(), std::move(tensors));
}

void load_parameters(torch::nn::Module& module, const safetensors::Reader& weights) {
  torch::NoGradGuard no_grad;
  std::set<std::string> expected;
  for (auto& item : module.named_parameters(/*recurse=*/true)) {
    const auto& name = item.key();
    expected.insert(name);
    if (!weights.contains(name)) fail("{}: missing tensor '{}'", weights.path(), name);
    const auto& info = weights.info(name);
    if (c10::IntArrayRef(info.shape) != item.value().sizes())
      fail("{}: tensor '{}' has shape {}, the model expects {}", weights.path(), name, shape_text(info.shape),
           shape_text(item.value().sizes()));
    item.value().copy_(weights.load(name));
  }
  for (const auto& t : weights.tensors())
    if (!expected.count(t.name)) fail("{}: unexpected tensor '{}' (the model has no such parameter)", weights.path(), t.name);
}

std::string checkpoint_entropy_model_dir(const std::string& dir, const ModelConfig& config) {
  const bool entropy_mode = config.patching.mode == "entropy" || config.patching.mode == "entropy_monotonic";
  if (config.type != "blt" || !entropy_mode || config.patching.entropy_model.empty()) return {};
  fs::path entropy_dir(config.patching.entropy_model);
  if (entropy_dir.is_relative()) entropy_dir = fs::path(dir) / entropy_dir;
  return entropy_dir.string();
}

std::shared_ptr<Patcher> load_checkpoint_patcher(const std::string& dir, const ModelConfig& config) {
  const auto entropy_dir = checkpoint_entropy_model_dir(dir, config);
  if (entropy_dir.empty()) return nullptr;
  return std::make_shared<Patcher>(config.patching, load_entropy_model(entropy_dir, dir + ": patching.entropy_model"));
}

std::shared_ptr<TransformerLM> load_entropy_model(const std::string& dir, const std::string& source) {
  auto loaded = load_model_checkpoint(dir);
  auto entropy = std::dynamic_pointer_cast<TransformerLM>(loaded);
  if (!entropy || loaded->config().type != "byte_lm")
    fail("{} '{}' holds a {} model, not a byte_lm", source, dir, loaded->config().type);
  entropy->eval();
  return entropy;
}

std::shared_ptr<CausalLM> load_model_checkpoint(const std::string& dir) {
  const auto config = read_checkpoint_config(dir);
  auto model = build_model_for_load(config);
  const safetensors::Reader weights((fs::path(dir) / kCheckpointWeightsFile).string());
  // A model trained in float64 (train.precision fp64) comes back in float64: loading stays lossless.
  const auto& stored = weights.tensors();
  if (!stored.empty() && std::all_of(stored.begin(), stored.end(),
                                     [](const safetensors::TensorInfo& t) { return t.dtype == safetensors::DType::F64; }))
    model->to(torch::kDouble);
  load_parameters(*model, weights);
  if (auto patcher = load_checkpoint_patcher(dir, config))
    std::static_pointer_cast<BltModel>(model)->set_patcher(patcher);
  return model;
}

}  // namespace blt::model
