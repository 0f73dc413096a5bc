#include "blt/model/generator.h"

#include <chrono>

#include "blt/core/error.h"
#include "blt/model/token_ids.h"

namespace blt::model {

GenerationResult generate(IncrementalLM& lm, const std::vector<int64_t>& prompt, const GenerationConfig& config,
                          const std::function<void(int64_t)>& on_byte) {
  if (prompt.empty()) fail("generation needs at least one prompt id");
  if (config.max_bytes <= 0) fail("--max-bytes must be positive, got {}", config.max_bytes);
  Sampler sampler(config.sampling);
  using Clock = std::chrono::steady_clock;
  const auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  GenerationResult result;

  auto start = Clock::now();
  torch::Tensor logits;
  for (int64_t id : prompt) {
    if (lm.full()) fail("the prompt ({} ids with BOS) does not fit the model's context", prompt.size());
    logits = lm.push(id);
  }
  result.prompt_seconds = seconds_since(start);

  start = Clock::now();
  result.stop = "max-bytes";
  while (true) {
    const int64_t id = sampler.next(logits);
    if (id < kByteOffset) {
      result.stop = id == kEosId ? "eos" : "special id " + std::to_string(id);
      break;
    }
    result.ids.push_back(id);
    if (on_byte) on_byte(id);
    if (static_cast<int64_t>(result.ids.size()) >= config.max_bytes) break;
    if (lm.full()) {
      result.stop = "context";
      break;
    }
    logits = lm.push(id);
  }
  result.seconds = seconds_since(start);
  result.patches = lm.patches();
  return result;
}

}  // namespace blt::model
