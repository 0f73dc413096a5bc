#include "blt/train/adamw.h"

#include <cmath>

#include "blt/core/error.h"

namespace blt::train {

AdamW::AdamW(std::vector<Param> params, const OptimizerConfig& config) : params_(std::move(params)), config_(config) {
  for (const auto& p : params_) {
    if (p.value.scalar_type() != torch::kFloat && p.value.scalar_type() != torch::kDouble)
      fail("AdamW: parameter '{}' is {}, but master weights must be fp32 (or fp64)", p.name,
           c10::toString(p.value.scalar_type()));
    exp_avg_.push_back(torch::zeros_like(p.value));
    exp_avg_sq_.push_back(torch::zeros_like(p.value));
  }
}

void AdamW::step(double lr) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params_) grads.push_back(p.value.grad());
  step(lr, grads);
}

void AdamW::step(double lr, const std::vector<torch::Tensor>& grads) {
  if (grads.size() != params_.size()) fail("AdamW: {} gradients for {} parameters", grads.size(), params_.size());
  torch::NoGradGuard no_grad;
  ++steps_;
  const double b1 = config_.beta1, b2 = config_.beta2;
  const double bias1 = 1.0 - std::pow(b1, double(steps_));
  const double bias2 = 1.0 - std::pow(b2, double(steps_));
  const double step_size = lr / bias1;
  const double bias2_sqrt = std::sqrt(bias2);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    auto& value = params_[i].value;
    const auto& grad = grads[i];
    if (!grad.defined()) continue;
    if (params_[i].decay && config_.weight_decay > 0) value.mul_(1.0 - lr * config_.weight_decay);
    exp_avg_[i].mul_(b1).add_(grad, 1.0 - b1);
    exp_avg_sq_[i].mul_(b2).addcmul_(grad, grad, 1.0 - b2);
    const auto denom = (exp_avg_sq_[i].sqrt() / bias2_sqrt).add_(config_.eps);
    value.addcdiv_(exp_avg_[i], denom, -step_size);
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
  steps_ = it->second.item<int64_t>();
}

}  // namespace blt::train
