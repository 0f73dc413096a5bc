// The Byte Latent Transformer: (tokens [B, L], patch_lengths [B, P]) -> logits [B, L, 260].
// Module names follow the Hugging Face BltForCausalLM layout with the "model."
// prefix dropped (lm_head has none there either): local_encoder.*,
// encoder_hash_tok_embedding, global_transformer.*, local_decoder.*, lm_head.
#pragma once
#include <torch/torch.h>

#include <memory>

#include "blt/model/causal_lm.h"
#include "blt/model/global_transformer.h"
#include "blt/model/linear.h"
#include "blt/model/local_decoder.h"
#include "blt/model/local_encoder.h"

namespace blt::model {

class Patcher;

class BltModel : public CausalLM {
 public:
  explicit BltModel(const ModelConfig& config);
  // Without patch_lengths, static and space patching run here; entropy modes need set_patcher().
  torch::Tensor forward(const ModelInput& input) override;
  std::vector<ComponentCount> parameter_counts() const override;

  // The patcher used when an input has no patch lengths (not part of the parameters).
  void set_patcher(std::shared_ptr<Patcher> patcher) { patcher_ = std::move(patcher); }
  const std::shared_ptr<Patcher>& patcher() const { return patcher_; }
  // Reference computation: the same model with dense masks in every attention (tests).
  torch::Tensor forward_dense_reference(const ModelInput& input);

  // Row-sparse gradients for the hash n-gram tables (train.optimizer.sparse_hash_rows): a step's
  // gradient of a table holds the rows it looked up, not the whole table.
  void set_sparse_hash_gradients(bool on);

  // Byte embedding plus the hash n-gram embeddings: [B, L, d_l].
  torch::Tensor embed(const torch::Tensor& tokens);

  LocalEncoder local_encoder{nullptr};
  torch::nn::Embedding encoder_hash_tok_embedding{nullptr};  // null when hash.functions == 0
  GlobalTransformer global_transformer{nullptr};
  LocalDecoder local_decoder{nullptr};
  Linear lm_head{nullptr};

 private:
  torch::Tensor run(const ModelInput& input, bool dense);
  std::shared_ptr<Patcher> patcher_;
};

}  // namespace blt::model
