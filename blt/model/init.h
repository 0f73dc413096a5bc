// Initial weights (spec section 3): truncated normal (cut at 3 std) with std
// fan_in^-0.5 for every matrix (embeddings: dim^-0.5), divided by
// sqrt(2 (layer + 1)) for the matrices that write into the residual stream
// (o_proj, down_proj) of layer `layer` (the reference's "current_depth" scheme);
// norm scales start at 1.
#pragma once
#include <torch/torch.h>

namespace blt::model {

void init_weights(torch::nn::Module& model);

// Where the modules being constructed create their parameters. Without a placement (a seeded
// build, build_model(config)) they are created on the CPU and draw their own initial values
// (Linear's kaiming-uniform, Embedding's normal) before init_weights overwrites them: the random
// stream every run has used, so a seed's model stays what it was. Within a placement
// (build_model_on, build_model_for_load) they are created on its device and left for
// init_weights or a checkpoint load to fill: no draw and no copy on the host, which for blt-1b's
// 4.5 G parameters seemed most of a run's start on the GPU machine (docs/model.md).
class ParamPlacement {
 public:
  explicit ParamPlacement(const torch::Device& device);
  ~ParamPlacement();
  ParamPlacement(const ParamPlacement&) = delete;
  ParamPlacement& operator=(const ParamPlacement&) = delete;

 private:
  const ParamPlacement* previous_;
  torch::Device device_;
  friend torch::TensorOptions param_options();
  friend bool modules_draw_initial_values();
};
// The options of a new parameter: the placement's device, or the CPU.
torch::TensorOptions param_options();
// Whether a module draws its own initial values (outside a placement).
bool modules_draw_initial_values();
// An Embedding's options whose weight is created as above (torch::nn::Embedding draws its own
// values unless it is handed a weight).
torch::nn::EmbeddingOptions embedding_options(int64_t rows, int64_t dim);

// In-place truncated normal N(0, std) cut at +-3 std.
void trunc_normal_(torch::Tensor& t, double std);

}  // namespace blt::model
