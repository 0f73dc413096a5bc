#include "blt/parallel/param_update.h"

#include <cmath>
#include <map>
#include <set>

#include "blt/core/error.h"
#include "blt/parallel/ddp_update.h"
#include "blt/parallel/sharded_update.h"

namespace blt::parallel {

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

void ParamUpdate::with_whole_params(const std::function<void()>& use) {
  optimizer_->catch_up_all();
  gather_whole();
  use();
  release_whole();
}

void ParamUpdate::save(const std::string& dir) {
  optimizer_->catch_up_all();  // the saved rows are dense AdamW's
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

std::vector<train::AdamW::Param> model_params(const model::CausalLM& model) {
  std::set<std::string> decayed;
  for (const auto& [name, p] : model::parameter_groups(model).decay) decayed.insert(name);
  std::vector<train::AdamW::Param> out;
  for (const auto& item : model.named_parameters(/*recurse=*/true))
    out.push_back({item.key(), item.value(), decayed.count(item.key()) > 0});
  return out;
}

ParamShapes shapes_of(const std::vector<train::AdamW::Param>& params) {
  ParamShapes out;
  for (const auto& p : params) out.emplace_back(p.name, p.value.sizes().vec());
  return out;
}

torch::Tensor squared_norm(const std::vector<torch::Tensor>& grads, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  // Dense tensors' norms through one multi-tensor op per dtype (on CUDA a few launches for all of
  // them, not three per tensor), each norm in its tensor's dtype (bf16 sums over ranks: rounded to
  // bf16, as the gradients were); row-sparse ones through the row kernels; squares summed in float64.
  std::map<c10::ScalarType, std::vector<torch::Tensor>> dense;
  std::vector<torch::Tensor> squares;
  for (const auto& g : grads) {
    if (!g.defined()) continue;
    if (g.is_sparse()) squares.push_back(train::row_sparse_squared_norm(g).to(torch::kDouble).reshape({1}));
    else dense[g.scalar_type()].push_back(g);
  }
  for (const auto& [dtype, same] : dense)
    squares.push_back(torch::stack(at::_foreach_norm(same)).to(torch::kDouble).square());
  if (squares.empty()) return torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device));
  return torch::cat(squares).sum();
}

void ParamUpdate::apply_update(double lr, const std::vector<torch::Tensor>& grads, const torch::Tensor& norm,
                               double max_norm) {
  if (!nonfinite_step_.defined()) nonfinite_step_ = torch::zeros({}, norm.options().dtype(torch::kLong));
  auto stop = torch::isfinite(norm).logical_not();
  if (halt_next_.defined()) stop = stop.logical_or(halt_next_.to(norm.device()));
  halt_next_ = torch::Tensor();
  const auto newly = stop.logical_and(nonfinite_step_ == 0);
  nonfinite_step_.masked_fill_(newly, optimizer_->steps() + 1);
  optimizer_->step(lr, grads, clip_factor(norm, max_norm), nonfinite_step_ != 0);
}

void ParamUpdate::sum_gradients() {
  if (gradients_summed_) return;
  sum_gradients_over_ranks();
  gradients_summed_ = true;
}

torch::Tensor ParamUpdate::step(double lr, double max_norm) {
  sum_gradients();
  gradients_summed_ = false;
  return step_with_summed_gradients(lr, max_norm);
}

int64_t ParamUpdate::first_nonfinite_step() const {
  return nonfinite_step_.defined() ? nonfinite_step_.item<int64_t>() : 0;
}

torch::Tensor clip_factor(const torch::Tensor& norm, double max_norm) {
  if (max_norm <= 0) return {};
  return torch::where(norm > max_norm, max_norm / (norm + 1e-6), torch::ones_like(norm));
}

std::unique_ptr<ParamUpdate> make_param_update(const DistConfig& dist, model::CausalLM& model, Comm& comm,
                                               const train::OptimizerConfig& config,
                                               c10::optional<torch::ScalarType> compute_dtype) {
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model.parameters()) {
      auto data = p.detach();
      comm.broadcast_(data, 0);
    }
  }
  const auto reduce = dist.reduce_scalar_type();
  if (dist.strategy == "ddp") return std::make_unique<DdpUpdate>(model, comm, config, dist, compute_dtype);
  if (dist.strategy == "zero2") return std::make_unique<ShardedUpdate>(model, comm, config, /*fsdp=*/false, reduce);
  if (dist.strategy == "fsdp") return std::make_unique<ShardedUpdate>(model, comm, config, /*fsdp=*/true, reduce);
  fail("dist.strategy '{}' is not one of ddp, zero2, fsdp", dist.strategy);
}

}  // namespace blt::parallel
