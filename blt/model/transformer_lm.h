// Decoder-only Llama-style LM: the byte LM (type byte_lm, the entropy model that
// drives patching; sliding-window attention that stops at EOS) and the token LM
// (type token_lm, the BPE baseline; plain causal attention). Module names follow
// the Hugging Face layout (embed_tokens, layers.N.*, norm, lm_head), which is
// also the layout of BltPatcher.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "blt/model/causal_lm.h"
#include "blt/model/kv_cache.h"
#include "blt/model/linear.h"
#include "blt/model/transformer_layer.h"

namespace blt::model {

// Cached keys/values of every layer plus what the document mask needs.
struct LMCache {
  StackCache stack;
  torch::Tensor last_tokens;   // int64 [B] the most recent input ids
  torch::Tensor last_document; // int64 [B] their documents (the window may have dropped them)
};

class TransformerLM : public CausalLM {
 public:
  explicit TransformerLM(const ModelConfig& config);
  torch::Tensor forward(const ModelInput& input) override;
  std::vector<ComponentCount> parameter_counts() const override;

  // Logits [B, L, vocab] of tokens [B, L]; `documents` as ModelInput::documents.
  torch::Tensor logits(const torch::Tensor& tokens, const SequenceSpans& documents = {});
  // Feeds one id per sequence (tokens [B]) and returns the logits [B, vocab] for
  // the next one. Equals the last row of logits() over everything fed so far.
  torch::Tensor step(const torch::Tensor& tokens, LMCache& cache);

  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  Linear lm_head{nullptr};

 private:
  AttentionPattern pattern_for(const torch::Tensor& tokens, const SequenceSpans& documents) const;
  bool byte_level() const { return config_.type == "byte_lm"; }
};

}  // namespace blt::model
