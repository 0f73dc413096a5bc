#include "blt/train/batch_ahead.h"

#include "blt/core/error.h"

namespace blt::train {

BatchAhead::BatchAhead(data::Loader& loader, const model::Patcher* patcher, const torch::Device& device,
                       StepTimer* timer)
    : loader_(loader), patcher_(patcher), device_(device), timer_(timer) {}

std::optional<PendingBatch> BatchAhead::load() {
  auto batch = loader_.next();
  if (timer_) timer_->mark("data/loader");
  if (!batch) return std::nullopt;
  return queue_batch(batch->tokens, patcher_, device_);
}

StepBatch BatchAhead::next() {
  auto current = ahead_ ? std::move(ahead_) : load();
  if (!current) fail("the training data ran out (the loader handed out its last batch)");
  before_ahead_ = loader_.state();
  ahead_ = load();  // queued before this batch's forward: see the header
  return std::move(*current).finish();
}

data::LoaderState BatchAhead::loader_state() const { return ahead_ ? before_ahead_ : loader_.state(); }

}  // namespace blt::train
