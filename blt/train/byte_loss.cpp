#include "blt/train/byte_loss.h"

#include <cmath>

#include "blt/data/byte_ids.h"

namespace blt::train {

double LossSums::bits_per_byte() const { return bytes > 0 ? text_nats / std::log(2.0) / bytes : 0.0; }

LossSums LossSums::read(const torch::Tensor& stats) {
  const auto host = stats.to(torch::kCPU, torch::kDouble).contiguous();
  const auto* s = host.data_ptr<double>();
  return {s[0], s[1], s[2], s[3]};
}

TokenLoss token_loss(const torch::Tensor& logits, const torch::Tensor& targets, const torch::Tensor& bytes_per_id) {
  const auto vocab = logits.size(-1);
  const auto flat_targets = targets.reshape({-1});
  // At least fp32 (bf16 logits under autocast); fp64 runs keep fp64.
  const auto dtype = logits.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  const auto per_target = torch::nn::functional::cross_entropy(
      logits.reshape({-1, vocab}).to(dtype), flat_targets,
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(data::kIgnoreId).reduction(torch::kNone));
  TokenLoss out;
  out.loss_sum = per_target.sum();
  torch::NoGradGuard no_grad;
  const auto detached = per_target.detach().to(torch::kDouble);
  const auto target_bytes = bytes_per_id.defined()
                                ? bytes_per_id.to(torch::kDouble).index_select(0, flat_targets.clamp_min(0)) *
                                      (flat_targets != data::kIgnoreId)
                                : (flat_targets >= data::kByteOffset).to(torch::kDouble);
  const auto is_text = (target_bytes > 0).logical_or(flat_targets == data::kEosId);
  out.stats = torch::stack({detached.sum(), (flat_targets != data::kIgnoreId).sum().to(torch::kDouble),
                           (detached * is_text).sum(), target_bytes.sum()});
  return out;
}

}  // namespace blt::train
