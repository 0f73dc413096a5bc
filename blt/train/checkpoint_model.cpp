#include "blt/train/checkpoint_model.h"

#include <filesystem>

#include "blt/config/run_config.h"
#include "blt/model/blt_model.h"
#include "blt/model/model_checkpoint.h"
#include "blt/parallel/sharded_checkpoint.h"

namespace blt::train {

bool is_training_checkpoint(const std::string& dir) { return std::filesystem::exists(dir + "/" + kRunConfigFile); }

model::ModelConfig checkpoint_model_config(const std::string& dir) {
  if (!is_training_checkpoint(dir)) return model::read_checkpoint_config(dir);
  return load_run_config(dir + "/" + kRunConfigFile).model;
}

std::shared_ptr<model::CausalLM> load_checkpoint_model(const std::string& dir) {
  if (!is_training_checkpoint(dir)) return model::load_model_checkpoint(dir);
  const auto config = load_run_config(dir + "/" + kRunConfigFile);
  auto model = model::build_model_for_load(config.model);
  if (config.train.precision == "fp64") model->to(torch::kDouble);  // as it was trained: lossless
  const parallel::ShardReader reader(dir);
  parallel::ParamShapes shapes;
  for (const auto& item : model->named_parameters()) shapes.emplace_back(item.key(), item.value().sizes().vec());
  reader.check_shapes(shapes);
  torch::NoGradGuard no_grad;
  for (const auto& item : model->named_parameters()) {
    parallel::ParamSlice whole{item.key(), 0, {{"param", item.value().view({-1})}}};
    reader.read(whole);
  }
  if (auto patcher = model::load_checkpoint_patcher(dir, model->config()))
    std::static_pointer_cast<model::BltModel>(model)->set_patcher(patcher);
  return model;
}

}  // namespace blt::train
