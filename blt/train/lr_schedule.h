// Learning rate at a step: linear warmup to the peak, then cosine decay to
// min_lr_ratio * peak at the last step (spec section 4).
#pragma once
#include <cstdint>

namespace blt::train {

double learning_rate(int64_t step, int64_t total_steps, double peak, int64_t warmup_steps, double min_lr_ratio);

}  // namespace blt::train
