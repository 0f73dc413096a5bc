#include "blt/train/adamw.h"

#include <cmath>
#include <tuple>
#include <unordered_map>

#include <fmt/ranges.h>  // shapes in messages

#include "blt/core/error.h"
#include "blt/core/torch_compat.h"
#include "blt/kernels/adamw_step.h"

namespace blt::train {

AdamW::AdamW(std::vector<Param> params, const OptimizerConfig& config)
    : params_(std::move(params)), config_(config), fused_(compat::kHasFusedAdamW) {
  for (const auto& p : params_) {
    fused_ = fused_ && p.value.is_cuda();  // CPU keeps the reference path in every LibTorch
    if (!p.value.is_floating_point())
      fail("AdamW: parameter '{}' is {}, master weights must be floating point", p.name,
           c10::toString(p.value.scalar_type()));
    const auto moments = p.value.options().dtype(p.moments.value_or(p.value.scalar_type()));
    exp_avg_.push_back(torch::zeros(p.value.sizes(), moments));
    exp_avg_sq_.push_back(torch::zeros(p.value.sizes(), moments));
  }
}

void AdamW::step(double lr) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params_) grads.push_back(p.value.grad());
  step(lr, grads);
}

void AdamW::step(double lr, const std::vector<torch::Tensor>& grads, const torch::Tensor& clip,
                 const torch::Tensor& skip) {
  if (grads.size() != params_.size()) fail("AdamW: {} gradients for {} parameters", grads.size(), params_.size());
  for (std::size_t i = 0; i < params_.size(); ++i)
    if (grads[i].defined() && !grads[i].is_sparse() && exp_avg_[i].scalar_type() != params_[i].value.scalar_type())
      fail("AdamW: parameter '{}' keeps {} moments, which only row-sparse gradients update; it got a dense gradient",
           params_[i].name, c10::toString(exp_avg_[i].scalar_type()));
  torch::NoGradGuard no_grad;
  ++steps_;
  for (std::size_t i = 0; i < params_.size(); ++i)  // every row is current through the step before
    if (grads[i].defined() && grads[i].is_sparse() && !lazy_.count(i)) {
      const auto& v = params_[i].value;
      lazy_[i] = {v, exp_avg_[i], exp_avg_sq_[i],
                  torch::full({v.size(0)}, steps_ - 1, v.options().dtype(torch::kInt)), params_[i].decay};
    }
  if (!lazy_.empty()) history_.record(steps_, kernels::step_scalars(hyper(lr, true)), skip, lazy_.begin()->second.last.device());
  std::vector<Slot> slots;
  struct Rows {
    std::size_t param, slot;
    torch::Tensor index;
  };
  std::vector<Rows> rows;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!grads[i].defined()) continue;
    auto& p = params_[i];
    if (grads[i].is_sparse() && fused_ &&
        kernels::adamw_rows_kernel_applies(p.value, exp_avg_[i], exp_avg_sq_[i], grads[i])) {
      // In place, sorted rather than coalesced: no host wait (adamw_step.h).
      auto& table = lazy_.at(i);
      const auto sorted = kernels::sort_rows(grads[i]);
      kernels::adamw_rows(p.value, exp_avg_[i], exp_avg_sq_[i], sorted, table.last, history_.table(),
                          hyper(lr, p.decay), table.decays, clip, skip);
      table.last.index_fill_(0, sorted.rows, static_cast<int32_t>(steps_));
    } else if (grads[i].is_sparse()) {
      const auto g = grads[i].coalesce();  // one row per index, duplicates summed
      const auto index = g.indices()[0];
      catch_up_rows_through(i, index, steps_ - 1);
      rows.push_back({i, slots.size(), index});
      const auto dtype = p.value.scalar_type();  // the arithmetic's, whatever the moments are stored as
      slots.push_back({p.value.index_select(0, index), g.values(), exp_avg_[i].index_select(0, index).to(dtype),
                       exp_avg_sq_[i].index_select(0, index).to(dtype), p.decay});
    } else {
      // A gradient summed over ranks in another dtype (dist.reduce_dtype bfloat16): blt's kernel
      // reads it as it is, the other paths take it converted.
      auto g = grads[i];
      if (g.scalar_type() != p.value.scalar_type() &&
          !(fused_ && kernels::adamw_kernel_applies(p.value, g, exp_avg_[i], exp_avg_sq_[i])))
        g = g.to(p.value.scalar_type());
      slots.push_back({p.value, g, exp_avg_[i], exp_avg_sq_[i], p.decay, p.compute_copy.get()});
    }
  }
  if (fused_)
    fused_update(slots, lr, clip, skip);
  else if (!skip.defined() || !skip.item<bool>())
    reference_update(slots, lr, clip);
  for (const auto& r : rows) {  // the updated row copies back into place
    const auto& s = slots[r.slot];
    params_[r.param].value.index_copy_(0, r.index, s.value);
    exp_avg_[r.param].index_copy_(0, r.index, s.exp_avg.to(exp_avg_[r.param].scalar_type()));
    exp_avg_sq_[r.param].index_copy_(0, r.index, s.exp_avg_sq.to(exp_avg_sq_[r.param].scalar_type()));
    lazy_.at(r.param).last.index_fill_(0, r.index, static_cast<int32_t>(steps_));
  }
}

kernels::AdamWHyper AdamW::hyper(double lr, bool decays) const {
  return {lr, config_.beta1, config_.beta2, config_.eps, decays ? config_.weight_decay : 0.0, steps_};
}

void AdamW::catch_up_rows_through(std::size_t param, const torch::Tensor& rows, int64_t through) {
  const auto it = lazy_.find(param);
  if (it == lazy_.end()) return;
  run_missed_steps(it->second, rows, through, history_, hyper(0.0, it->second.decays), fused_);
}

void AdamW::catch_up_rows(std::size_t param, const torch::Tensor& rows) { catch_up_rows_through(param, rows, steps_); }

void AdamW::catch_up_all() {
  for (auto& [param, table] : lazy_)
    catch_up_rows_through(param, torch::arange(table.value.size(0), table.last.options().dtype(torch::kLong)), steps_);
}

void AdamW::set_steps(int64_t steps) {
  steps_ = steps;
  lazy_.clear();  // restored state is dense AdamW's: every row current
}

void AdamW::reference_update(std::vector<Slot>& slots, double lr, const torch::Tensor& clip) {
  const double b1 = config_.beta1, b2 = config_.beta2;
  const auto k = kernels::step_scalars(hyper(lr, true));
  for (auto& s : slots) {
    const auto grad = clip.defined() ? s.grad * clip : s.grad;
    if (s.decay && config_.weight_decay > 0) s.value.mul_(k.decay);
    s.exp_avg.mul_(b1).add_(grad, 1.0 - b1);
    s.exp_avg_sq.mul_(b2).addcmul_(grad, grad, 1.0 - b2);
    const auto denom = (s.exp_avg_sq.sqrt() / k.bias2_sqrt).add_(config_.eps);
    s.value.addcdiv_(s.exp_avg, denom, -k.step_size);
    if (s.copy != nullptr) s.copy->refresh();
  }
}

void AdamW::fused_update(std::vector<Slot>& slots, double lr, const torch::Tensor& clip, const torch::Tensor& skip) {
  // blt's kernel where it applies (float32 on CUDA, in a build with the kernels: nearly twice
  // LibTorch's speed on blt-1b, docs/kernels.md), every such tensor in one launch; LibTorch's
  // multi-tensor kernel for the rest
  // (float64 verification runs, builds without a CUDA compiler), which takes one weight decay
  // and one device and dtype per call.
  std::unordered_map<torch::Device, std::vector<kernels::AdamWTensors>> kernel_tensors;  // one launch a device
  std::map<std::tuple<bool, std::string, int>, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    auto& s = slots[i];
    if (kernels::adamw_kernel_applies(s.value, s.grad, s.exp_avg, s.exp_avg_sq)) {
      kernel_tensors[s.value.device()].push_back({s.value, s.grad, s.exp_avg, s.exp_avg_sq,
                                                        s.copy != nullptr ? s.copy->storage() : torch::Tensor(),
                                                        s.decay});
      continue;
    }
    groups[{s.decay, s.value.device().str(), static_cast<int>(s.value.scalar_type())}].push_back(i);
  }
  for (const auto& [device, tensors] : kernel_tensors) kernels::adamw_steps(tensors, hyper(lr, true), clip, skip);
  for (const auto& [key, members] : groups) {
    const auto& like = slots[members.front()].value;
    std::vector<torch::Tensor> values, gs, ms, vs;
    for (const auto i : members) {
      values.push_back(slots[i].value);
      gs.push_back(slots[i].grad);
      ms.push_back(slots[i].exp_avg);
      vs.push_back(slots[i].exp_avg_sq);
    }
    const auto f32 = like.options().dtype(torch::kFloat);
    const auto step = torch::full({}, double(steps_), f32);
    // The kernel divides each gradient by its scale: 1 / clip multiplies it by clip.
    const auto divisor = clip.defined() ? clip.to(f32).reciprocal() : torch::Tensor();
    const auto found_inf = skip.defined() ? skip.to(f32) : torch::Tensor();
    compat::fused_adamw(values, gs, ms, vs, step, lr, config_.beta1, config_.beta2,
                        std::get<0>(key) ? config_.weight_decay : 0.0, config_.eps, divisor, found_inf);
    for (const auto i : members)
      if (slots[i].copy != nullptr) slots[i].copy->refresh();
  }
}

std::map<std::string, torch::Tensor> AdamW::state() const {
  std::map<std::string, torch::Tensor> out;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    out["exp_avg." + params_[i].name] = exp_avg_[i];
    out["exp_avg_sq." + params_[i].name] = exp_avg_sq_[i];
  }
  out["step"] = torch::tensor({steps_}, torch::kLong);
  return out;
}

void AdamW::load_state(const std::map<std::string, torch::Tensor>& state, const std::string& source) {
  const auto get = [&](const std::string& key, const torch::Tensor& like) {
    const auto it = state.find(key);
    if (it == state.end()) fail("{}: optimizer state has no tensor '{}'", source, key);
    if (it->second.sizes() != like.sizes())
      fail("{}: optimizer tensor '{}' has shape {}, the model needs {}", source, key, it->second.sizes(), like.sizes());
    return it->second;
  };
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    exp_avg_[i].copy_(get("exp_avg." + params_[i].name, exp_avg_[i]));
    exp_avg_sq_[i].copy_(get("exp_avg_sq." + params_[i].name, exp_avg_sq_[i]));
  }
  const auto it = state.find("step");
  if (it == state.end()) fail("{}: optimizer state has no 'step'", source);
  set_steps(it->second.item<int64_t>());
}

}  // namespace blt::train
