#include "blt/model/patcher.h"

#include <cmath>
#include <limits>

#include "blt/core/error.h"
#include "blt/core/torch_compat.h"
#include "blt/model/causal_lm.h"
#include "blt/model/token_ids.h"

namespace blt::model {

namespace {

using torch::indexing::Slice;

// A byte after which SpaceByte-style patching may start a new patch: anything
// but an ASCII letter or digit or a UTF-8 continuation byte; special ids too.
bool spacelike(int64_t id) {
  if (id < kByteOffset) return true;
  const int64_t v = id - kByteOffset;
  const bool letter_or_digit = (v >= '0' && v <= '9') || (v >= 'A' && v <= 'Z') || (v >= 'a' && v <= 'z');
  const bool continuation = v >= 0x80 && v < 0xC0;
  return !(letter_or_digit || continuation);
}

torch::Tensor spacelike_mask(const torch::Tensor& tokens) {
  auto v = tokens - kByteOffset;
  auto letter_or_digit = (v.ge('0') & v.le('9')) | (v.ge('A') & v.le('Z')) | (v.ge('a') & v.le('z'));
  auto continuation = v.ge(0x80) & v.lt(0xC0);
  return tokens.lt(kByteOffset) | (letter_or_digit | continuation).logical_not();
}

// Columns 0 and 1 always start a patch; `rule` [B, L-1] gives columns 2..L.
torch::Tensor starts_with_first_two(const torch::Tensor& rule, int64_t batch, const torch::Device& device) {
  auto first = torch::ones({batch, 2}, torch::TensorOptions().dtype(torch::kBool).device(device));
  return torch::cat({first, rule.to(torch::kBool)}, 1);
}

}  // namespace

compat::AutocastState entropy_precision(const PatchingConfig& config, const torch::Device& device) {
  return {config.entropy_precision == "bf16" && device.is_cuda(), at::kBFloat16};
}

torch::Tensor next_byte_entropy(const torch::Tensor& logits) {
  const auto acc = logits.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  auto logp = torch::log_softmax(logits.to(acc), -1);
  return -(logp.exp() * logp).sum(-1);
}

PendingPatchLengths::PendingPatchLengths(const torch::Tensor& starts_in, int64_t max_patch_length) {
  auto starts = starts_in.to(torch::kBool);
  const int64_t B = starts.size(0), L = starts.size(1) - 1;
  auto lopts = torch::TensorOptions().dtype(torch::kLong).device(starts.device());
  if (max_patch_length > 0) {
    auto pos = torch::arange(L + 1, lopts).unsqueeze(0).expand({B, L + 1});
    auto last_start = std::get<0>(torch::where(starts, pos, torch::zeros_like(pos)).cummax(1));
    starts = starts | (pos - last_start).remainder(max_patch_length).eq(0);
  }
  auto body = starts.index({Slice(), Slice(0, L)}).to(torch::kLong);
  patch_of_ = body.cumsum(1) - 1;  // patch index of every position
  auto count = body.sum(1) + starts.select(1, L).to(torch::kLong);
  patches_ = HostScalar(count.max());
}

torch::Tensor PendingPatchLengths::lengths() const {
  const int64_t B = patch_of_.size(0), L = patch_of_.size(1);
  auto lopts = patch_of_.options();
  return torch::zeros({B, patches_.to_int()}, lopts).scatter_add(1, patch_of_, torch::ones({B, L}, lopts));
}

torch::Tensor patch_lengths_from_starts(const torch::Tensor& starts, int64_t max_patch_length) {
  return PendingPatchLengths(starts, max_patch_length).lengths();
}

torch::Tensor static_patch_starts(int64_t batch, int64_t length, int64_t size, const torch::Device& device) {
  auto pos = torch::arange(length + 1, torch::TensorOptions().dtype(torch::kLong).device(device));
  auto starts = pos.eq(0) | (pos.ge(1) & (pos - 1).remainder(size).eq(0));
  return starts.unsqueeze(0).expand({batch, length + 1}).clone();
}

torch::Tensor space_patch_starts(const torch::Tensor& tokens) {
  const int64_t B = tokens.size(0), L = tokens.size(1);
  auto space = spacelike_mask(tokens);
  auto ends = space.clone();
  if (L > 1) ends.index_put_({Slice(), Slice(1)}, space.index({Slice(), Slice(1)}) & space.index({Slice(), Slice(0, L - 1)}).logical_not());
  ends = ends | tokens.lt(kByteOffset);
  // Column t >= 2 starts a patch when byte t-1 ends a word.
  return starts_with_first_two(ends.index({Slice(), Slice(1)}), B, tokens.device());
}

torch::Tensor entropy_patch_starts(const torch::Tensor& entropies, double threshold) {
  return starts_with_first_two(entropies.index({Slice(), Slice(1)}).gt(threshold), entropies.size(0), entropies.device());
}

torch::Tensor monotonic_patch_starts(const torch::Tensor& entropies, double threshold) {
  auto rise = entropies.index({Slice(), Slice(1)}) - entropies.index({Slice(), Slice(0, -1)});
  return starts_with_first_two(rise.gt(threshold), entropies.size(0), entropies.device());
}

std::shared_ptr<TransformerLM> running_entropy_model(const PatchingConfig& config,
                                                    const std::shared_ptr<TransformerLM>& entropy_model) {
  if (!entropy_model) return nullptr;
  const auto device = entropy_model->lm_head->weight.device();
  if (!entropy_precision(config, device).enabled) return entropy_model;
  auto copy = std::dynamic_pointer_cast<TransformerLM>(build_model_for_load(entropy_model->config(), device));
  torch::NoGradGuard no_grad;
  const auto from = entropy_model->parameters(), to = copy->parameters();
  for (std::size_t i = 0; i < from.size(); ++i) to[i].copy_(from[i]);
  copy->to(torch::kBFloat16);
  for (auto& p : copy->parameters()) p.requires_grad_(false);
  copy->eval();
  return copy;
}

Patcher::Patcher(PatchingConfig config, std::shared_ptr<TransformerLM> entropy_model)
    : config_(std::move(config)),
      entropy_model_(std::move(entropy_model)),
      running_(running_entropy_model(config_, entropy_model_)) {
  const bool needs_model = config_.mode == "entropy" || config_.mode == "entropy_monotonic";
  if (needs_model && !entropy_model_) fail("patching.mode {} needs an entropy model (patching.entropy_model)", config_.mode);
}

torch::Tensor Patcher::entropies(const torch::Tensor& tokens_in, const SequenceSpans& documents_in) const {
  if (!running_) fail("patcher: no entropy model loaded");
  torch::NoGradGuard no_grad;
  // The entropy model may live on another device than the batch (e.g. patching on the GPU).
  const auto tokens = tokens_in.to(running_->lm_head->weight.device());
  const auto documents =
      documents_in.defined() && documents_in.offsets.device() == tokens.device() ? documents_in : SequenceSpans{};
  const compat::CudaAutocast precision(entropy_precision(config_, tokens.device()));
  const auto& shape = running_->config().transformer;
  const int64_t L = tokens.size(1), M = shape.max_seq_len, W = shape.sliding_window;
  if (L <= M) return next_byte_entropy(running_->logits(tokens, documents));
  // A windowed model's output at i depends on at most layers * (W-1) earlier bytes
  // (each layer reaches W-1 back), and RoPE scores depend only on distances, so
  // overlapping chunks with that much left context give the same entropies as one
  // pass over the whole sequence.
  const int64_t context = shape.layers * (W - 1);
  if (W <= 0 || context >= M)
    fail("patcher: {} bytes exceed the entropy model's max_seq_len {} and its receptive field (layers x "
         "(sliding_window - 1) = {}) is not shorter than that",
         L, M, W <= 0 ? std::string("unlimited") : std::to_string(context));
  std::vector<torch::Tensor> parts;
  const int64_t step = M - context;
  for (int64_t out = 0; out < L; out += step) {
    const int64_t from = std::max<int64_t>(0, out - context), to = std::min(L, out + step);
    auto e = next_byte_entropy(running_->logits(tokens.narrow(1, from, to - from)));
    parts.push_back(e.narrow(1, out - from, to - out));
  }
  return torch::cat(parts, 1);
}

torch::Tensor Patcher::patch(const torch::Tensor& tokens, const torch::Tensor& padding,
                             const SequenceSpans& documents) const {
  return queue_patch(tokens, padding, documents).lengths();
}

PendingPatchLengths Patcher::queue_patch(const torch::Tensor& tokens, const torch::Tensor& padding,
                                         const SequenceSpans& documents) const {
  const int64_t B = tokens.size(0), L = tokens.size(1);
  torch::Tensor starts;
  if (config_.mode == "static") starts = static_patch_starts(B, L, config_.static_size, tokens.device());
  else if (config_.mode == "space") starts = space_patch_starts(tokens);
  else if (config_.mode == "entropy") starts = entropy_patch_starts(entropies(tokens, documents), config_.threshold);
  else if (config_.mode == "entropy_monotonic")
    starts = monotonic_patch_starts(entropies(tokens, documents), config_.monotonic_threshold);
  else fail("unknown patching.mode '{}'", config_.mode);
  if (padding.defined() && L > 1) {  // columns 0 and 1 always start a patch
    if (padding.dim() != 2 || padding.size(0) != B || padding.size(1) != L)
      fail("patcher: the padding mask must be [B, L] = [{}, {}], the tokens' shape", B, L);
    auto decided_by_padding = padding.narrow(1, 1, L - 1).to(starts.device(), torch::kBool);
    starts.narrow(1, 2, L - 1).logical_and_(decided_by_padding.logical_not());
  }
  return PendingPatchLengths(starts.to(tokens.device()), config_.max_patch_length);
}

IncrementalPatcher::IncrementalPatcher(PatchingConfig config, std::shared_ptr<TransformerLM> entropy_model)
    : config_(std::move(config)), entropy_model_(running_entropy_model(config_, entropy_model)) {
  const bool needs_model = config_.mode == "entropy" || config_.mode == "entropy_monotonic";
  if (needs_model && !entropy_model_) fail("patching.mode {} needs an entropy model (patching.entropy_model)", config_.mode);
}

bool IncrementalPatcher::rule_starts_next(int64_t id) {
  const int64_t next = position_;  // index of the byte after `id`
  bool rule = false;
  if (config_.mode == "static") {
    rule = (next - 1) % config_.static_size == 0;
  } else if (config_.mode == "space") {
    const bool space = spacelike(id);
    rule = (space && !previous_spacelike_) || id < kByteOffset;
    previous_spacelike_ = space;
  } else {
    torch::NoGradGuard no_grad;
    auto device = entropy_model_->lm_head->weight.device();
    const compat::CudaAutocast precision(entropy_precision(config_, device));
    auto logits = entropy_model_->step(torch::full({1}, id, torch::TensorOptions().dtype(torch::kLong).device(device)), cache_);
    const double h = next_byte_entropy(logits).item<double>();
    rule = config_.mode == "entropy" ? h > config_.threshold : (h - previous_entropy_) > config_.monotonic_threshold;
    previous_entropy_ = h;
  }
  return next <= 1 || rule;
}

bool IncrementalPatcher::push(int64_t id) {
  const bool starts = next_starts_;
  if (starts) lengths_.push_back(1);
  else ++lengths_.back();
  ++position_;
  next_starts_ = rule_starts_next(id);
  if (config_.max_patch_length > 0 && lengths_.back() >= config_.max_patch_length) next_starts_ = true;
  return starts;
}

torch::Tensor IncrementalPatcher::patch_lengths() const {
  std::vector<int64_t> out = lengths_;
  if (next_starts_ && !out.empty()) out.push_back(0);
  return torch::tensor(out, torch::kLong).view({1, -1});
}

double mean_patch_length(const torch::Tensor& patch_lengths) {
  auto real = patch_lengths.gt(0).sum().item<double>();
  return real > 0 ? patch_lengths.sum().item<double>() / real : 0.0;
}

ThresholdSearch threshold_for_mean_patch_size(const std::vector<torch::Tensor>& entropies, double target,
                                              const std::string& mode, int64_t max_patch_length) {
  if (entropies.empty()) fail("threshold search needs at least one sequence of entropies");
  if (mode != "entropy" && mode != "entropy_monotonic") fail("threshold search: mode must be entropy or entropy_monotonic");
  const bool monotonic = mode == "entropy_monotonic";
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& e : entropies) {
    auto values = monotonic && e.numel() > 1 ? (e.narrow(0, 1, e.numel() - 1) - e.narrow(0, 0, e.numel() - 1)) : e;
    lo = std::min(lo, values.min().item<double>());
    hi = std::max(hi, values.max().item<double>());
  }
  lo -= 1.0;
  hi += 1.0;
  auto mean_at = [&](double threshold) {
    double bytes = 0, patches = 0;
    for (const auto& e : entropies) {
      auto row = e.view({1, -1});
      auto starts = monotonic ? monotonic_patch_starts(row, threshold) : entropy_patch_starts(row, threshold);
      auto lengths = patch_lengths_from_starts(starts, max_patch_length);
      bytes += static_cast<double>(e.numel());
      patches += lengths.gt(0).sum().item<double>();
    }
    return bytes / patches;
  };
  // The mean patch length grows with the threshold: bisect, keep the closest.
  ThresholdSearch best{lo, mean_at(lo)};
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    const double mean = mean_at(mid);
    if (std::abs(mean - target) < std::abs(best.mean_patch - target)) best = {mid, mean};
    if (mean < target) lo = mid;
    else hi = mid;
  }
  return best;
}

void Patcher::to(const torch::Device& device) {
  if (!entropy_model_) return;
  entropy_model_->to(device);
  running_ = running_entropy_model(config_, entropy_model_);
}

}  // namespace blt::model
