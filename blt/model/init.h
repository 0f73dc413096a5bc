// Initial weights (spec section 3): truncated normal (cut at 3 std) with std
// fan_in^-0.5 for every matrix (embeddings: dim^-0.5), divided by
// sqrt(2 (layer + 1)) for the matrices that write into the residual stream
// (o_proj, down_proj) of layer `layer` (the reference's "current_depth" scheme);
// norm scales start at 1.
#pragma once
#include <torch/torch.h>

namespace blt::model {

void init_weights(torch::nn::Module& model);

// In-place truncated normal N(0, std) cut at +-3 std.
void trunc_normal_(torch::Tensor& t, double std);

}  // namespace blt::model
