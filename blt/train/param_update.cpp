#include "blt/train/param_update.h"

#include <cmath>
#include <set>

#include "blt/core/error.h"
#include "blt/train/ddp_update.h"
#include "blt/train/sharded_update.h"

namespace blt::train {

std::vector<ParamSlice> ParamUpdate::slices(const std::vector<SliceSpec>& specs) const {
  const auto state = optimizer_->state();
  std::vector<ParamSlice> out;
  for (const auto& s : specs) {
    const auto& p = optimizer_->params()[s.param];
    const auto part = [&](const torch::Tensor& t) { return t.detach().view({-1}).narrow(0, s.local_begin, s.count); };
    out.push_back({p.name,
                   s.param_begin,
                   {{"param", part(p.value)},
                    {"exp_avg", part(state.at("exp_avg." + p.name))},
                    {"exp_avg_sq", part(state.at("exp_avg_sq." + p.name))}}});
  }
  return out;
}

void ParamUpdate::save(const std::string& dir) {
  write_shard(dir, comm_.rank(), comm_.world_size(), slices(saved_slices()));
  if (comm_.is_main()) write_shard_manifest(dir, comm_.world_size(), optimizer_->steps(), shapes_);
}

void ParamUpdate::load(const std::string& dir) {
  const ShardReader reader(dir);
  reader.check_shapes(shapes_);
  for (auto& slice : slices(loaded_slices())) reader.read(slice);
  optimizer_->set_steps(reader.optimizer_steps());
  after_load();
}

std::vector<AdamW::Param> model_params(const model::CausalLM& model) {
  std::set<std::string> decayed;
  for (const auto& [name, p] : model::parameter_groups(model).decay) decayed.insert(name);
  std::vector<AdamW::Param> out;
  for (const auto& item : model.named_parameters(/*recurse=*/true))
    out.push_back({item.key(), item.value(), decayed.count(item.key()) > 0});
  return out;
}

ParamShapes shapes_of(const std::vector<AdamW::Param>& params) {
  ParamShapes out;
  for (const auto& p : params) out.emplace_back(p.name, p.value.sizes().vec());
  return out;
}

double clip_factor(double norm, double max_norm) {
  // Every rank holds the same global norm, so every rank stops here, before AdamW
  // turns a NaN or infinite gradient into parameters (and then a checkpoint).
  if (!std::isfinite(norm))
    fail("the global gradient norm is {} (not finite); stopped before the update, nothing of this step saved: "
         "lower train.optimizer.lr or check the data",
         norm);
  return max_norm > 0 && norm > max_norm ? max_norm / (norm + 1e-6) : 1.0;
}

std::unique_ptr<ParamUpdate> make_param_update(const std::string& strategy, model::CausalLM& model, dist::Comm& comm,
                                               const OptimizerConfig& config) {
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model.parameters()) {
      auto data = p.detach();
      comm.broadcast_(data, 0);
    }
  }
  if (strategy == "ddp") return std::make_unique<DdpUpdate>(model, comm, config);
  if (strategy == "zero2") return std::make_unique<ShardedUpdate>(model, comm, config, /*fsdp=*/false);
  if (strategy == "fsdp") return std::make_unique<ShardedUpdate>(model, comm, config, /*fsdp=*/true);
  fail("dist.strategy '{}' is not one of ddp, zero2, fsdp", strategy);
}

}  // namespace blt::train
