#include "blt/model/init.h"

#include <cmath>
#include <regex>

namespace blt::model {

namespace {
thread_local const ParamPlacement* placement = nullptr;
}  // namespace

ParamPlacement::ParamPlacement(const torch::Device& device) : previous_(placement), device_(device) { placement = this; }

ParamPlacement::~ParamPlacement() { placement = previous_; }

torch::TensorOptions param_options() {
  return placement ? torch::TensorOptions().device(placement->device_) : torch::TensorOptions();
}

bool modules_draw_initial_values() { return placement == nullptr; }

torch::nn::EmbeddingOptions embedding_options(int64_t rows, int64_t dim) {
  torch::nn::EmbeddingOptions options(rows, dim);
  if (!modules_draw_initial_values()) options._weight(torch::empty({rows, dim}, param_options()));
  return options;
}

void trunc_normal_(torch::Tensor& t, double std) {
  // Inverse-CDF sampling restricted to [-3, 3] standard deviations.
  torch::NoGradGuard no_grad;
  const double a = -3.0, b = 3.0;
  auto cdf = [](double x) { return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))); };
  t.uniform_(2.0 * cdf(a) - 1.0, 2.0 * cdf(b) - 1.0);
  t.erfinv_().mul_(std * std::sqrt(2.0)).clamp_(a * std, b * std);
}

void init_weights(torch::nn::Module& model) {
  static const std::regex layer_index(R"((?:^|\.)(?:cross_attn_layers|layers)\.(\d+)\.)");
  for (auto& item : model.named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    torch::Tensor p = item.value();
    torch::NoGradGuard no_grad;
    if (p.dim() == 1) {
      p.fill_(1.0);
      continue;
    }
    double std = 1.0 / std::sqrt(static_cast<double>(p.size(1)));
    const bool residual_out = name.find("o_proj.weight") != std::string::npos ||
                              name.find("down_proj.weight") != std::string::npos;
    std::smatch m;
    if (residual_out && std::regex_search(name, m, layer_index))
      std /= std::sqrt(2.0 * (std::stod(m[1].str()) + 1.0));
    trunc_normal_(p, std);
  }
}

}  // namespace blt::model
