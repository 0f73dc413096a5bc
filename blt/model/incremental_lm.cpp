#include "blt/model/incremental_lm.h"

#include "blt/core/error.h"
#include "blt/model/blt_inference.h"
#include "blt/model/transformer_lm.h"

namespace blt::model {

namespace {

class ByteLMIncremental : public IncrementalLM {
 public:
  explicit ByteLMIncremental(std::shared_ptr<TransformerLM> lm) : lm_(std::move(lm)) {}
  torch::Tensor push(int64_t id) override {
    if (full()) fail("byte_lm incremental inference: the model's context ({} positions) is full", cache_.stack.length);
    torch::NoGradGuard no_grad;
    auto token = torch::full({1}, id, torch::TensorOptions().dtype(torch::kLong).device(lm_->lm_head->weight.device()));
    return lm_->step(token, cache_).view({-1});
  }
  bool full() const override { return cache_.stack.length >= lm_->config().transformer.max_seq_len; }

 private:
  std::shared_ptr<TransformerLM> lm_;
  LMCache cache_;
};

}  // namespace

std::unique_ptr<IncrementalLM> incremental_lm(std::shared_ptr<CausalLM> model) {
  const auto& config = model->config();
  if (config.type == "byte_lm") return std::make_unique<ByteLMIncremental>(std::static_pointer_cast<TransformerLM>(model));
  if (config.type != "blt") fail("generation supports blt and byte_lm models, not {}", config.type);
  auto blt = std::static_pointer_cast<BltModel>(model);
  std::shared_ptr<TransformerLM> entropy_model;
  const bool entropy_mode = config.patching.mode == "entropy" || config.patching.mode == "entropy_monotonic";
  if (entropy_mode) {
    if (!blt->patcher() || !blt->patcher()->entropy_model())
      fail("patching.mode {} needs the entropy model (model.patching.entropy_model names none)", config.patching.mode);
    entropy_model = blt->patcher()->entropy_model();
  }
  return std::make_unique<BltIncremental>(blt, entropy_model);
}

}  // namespace blt::model
