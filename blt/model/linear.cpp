#include "blt/model/linear.h"

#include <cmath>

#include "blt/core/torch_compat.h"
#include "blt/model/init.h"

namespace blt::model {
namespace {

// The copy in place of the weight, the weight's gradient being what autocast's cast gives it:
// the incoming gradient cast to the weight's dtype.
struct TakeComputeCopy : torch::autograd::Function<TakeComputeCopy> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& weight,
                               const torch::Tensor& copy) {
    ctx->saved_data["dtype"] = static_cast<int64_t>(weight.scalar_type());
    return copy.alias();
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto dtype = static_cast<torch::ScalarType>(ctx->saved_data["dtype"].toInt());
    return {grads[0].to(dtype), torch::Tensor()};
  }
};

}  // namespace

ComputeCopy::ComputeCopy(torch::Tensor weight, torch::ScalarType dtype) : weight_(std::move(weight)), dtype_(dtype) {}

torch::Tensor ComputeCopy::storage() const {
  return copy_.defined() && copy_.device() == weight_.device() ? copy_ : torch::Tensor();
}

torch::Tensor ComputeCopy::current() {
  const bool current = copy_.defined() && copy_.device() == weight_.device() && version_ == weight_._version() &&
                       source_ == weight_.data_ptr();
  if (!current) refresh();
  return copy_;
}

void ComputeCopy::refresh() {
  torch::NoGradGuard no_grad;
  if (!storage().defined() || copy_.sizes() != weight_.sizes())
    copy_ = torch::empty(weight_.sizes(), torch::TensorOptions().dtype(dtype_).device(weight_.device()));
  copy_.copy_(weight_);
  version_ = weight_._version();
  source_ = weight_.data_ptr();
}

LinearImpl::LinearImpl(int64_t in, int64_t out) {
  weight = register_parameter("weight", torch::empty({out, in}, param_options()));
  if (modules_draw_initial_values()) torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  if (copy_ && weight.scalar_type() == torch::kFloat && weight.device() == x.device()) {
    const auto autocast = compat::autocast_state(x.device().type());
    if (autocast.enabled && autocast.dtype == copy_->dtype()) {
      const auto copy = copy_->current();
      const bool tracked = torch::GradMode::is_enabled() && weight.requires_grad();
      return torch::linear(x, tracked ? TakeComputeCopy::apply(weight, copy) : copy);
    }
  }
  return torch::linear(x, weight);
}

std::shared_ptr<ComputeCopy> LinearImpl::keep_compute_copy(torch::ScalarType dtype) {
  if (!copy_ || copy_->dtype() != dtype) copy_ = std::make_shared<ComputeCopy>(weight, dtype);
  return copy_;
}

std::vector<std::shared_ptr<ComputeCopy>> keep_compute_copies(torch::nn::Module& model, torch::ScalarType dtype) {
  std::vector<std::shared_ptr<ComputeCopy>> out;
  for (const auto& module : model.modules(/*include_self=*/true))
    if (auto* linear = module->as<LinearImpl>()) out.push_back(linear->keep_compute_copy(dtype));
  return out;
}

}  // namespace blt::model
