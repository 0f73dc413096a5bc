#include "blt/eval/continuation_score.h"

#include <algorithm>

#include "blt/core/error.h"
#include "blt/core/torch_compat.h"
#include "blt/data/byte_ids.h"
#include "blt/train/evaluate.h"

namespace blt::eval {

std::vector<int64_t> byte_ids(std::string_view text) {
  std::vector<int64_t> ids;
  ids.reserve(text.size());
  for (const char c : text) ids.push_back(data::byte_to_id(static_cast<uint8_t>(c)));
  return ids;
}

ContinuationScorer::ContinuationScorer(model::CausalLM& model, const model::Patcher* patcher, TextEncoder encode,
                                       torch::Device device)
    : model_(model), patcher_(patcher), encode_(std::move(encode)), device_(device) {}

std::vector<double> ContinuationScorer::nats(const std::string& prompt,
                                             const std::vector<std::string>& continuations) const {
  if (continuations.empty()) return {};
  std::vector<int64_t> context = {data::kBosId};
  for (const int64_t id : encode_(prompt)) context.push_back(id);
  std::vector<std::vector<int64_t>> rows;
  std::size_t longest = 0;
  for (const auto& c : continuations) {
    const auto ids = encode_(c);
    if (ids.empty()) fail("continuation scoring: an empty continuation has no likelihood to compare");
    auto row = context;
    row.insert(row.end(), ids.begin(), ids.end());
    longest = std::max(longest, row.size());
    rows.push_back(std::move(row));
  }
  // tokens [B, longest] padded with kIgnoreId: prepare_batch turns it into inputs
  // [B, longest - 1] (padding read as BOE) and targets (padding ignored).
  const auto B = static_cast<int64_t>(rows.size());
  auto tokens = torch::full({B, static_cast<int64_t>(longest)}, data::kIgnoreId, torch::kLong);
  auto mask = torch::zeros({B, static_cast<int64_t>(longest) - 1}, torch::kBool);
  const auto start = static_cast<int64_t>(context.size()) - 1;  // target index of the first continuation id
  for (int64_t b = 0; b < B; ++b) {
    const auto n = static_cast<int64_t>(rows[b].size());
    tokens[b].narrow(0, 0, n).copy_(torch::tensor(rows[b], torch::kLong));
    mask[b].narrow(0, start, n - 1 - start).fill_(true);
  }

  const bool was_training = model_.is_training();
  model_.eval();
  torch::NoGradGuard no_grad;
  const auto step = train::prepare_batch(tokens, patcher_, device_);
  torch::Tensor logits;
  {
    compat::CudaAutocast autocast(device_.is_cuda(), at::kBFloat16);
    logits = model_.forward(step.input);
  }
  model_.train(was_training);
  const auto logp = torch::log_softmax(logits.to(torch::kDouble), -1);
  const auto picked = logp.gather(-1, step.targets.clamp_min(0).unsqueeze(-1)).squeeze(-1).to(torch::kCPU);
  const auto sums = -(picked * mask.to(torch::kDouble)).sum(1);
  return std::vector<double>(sums.data_ptr<double>(), sums.data_ptr<double>() + B);
}

std::size_t ContinuationScorer::choose(const std::string& prompt, const std::vector<std::string>& continuations) const {
  const auto scores = nats(prompt, continuations);
  return static_cast<std::size_t>(std::min_element(scores.begin(), scores.end()) - scores.begin());
}

}  // namespace blt::eval
