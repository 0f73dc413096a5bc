// A causal LM decoded one id at a time from its caches: what generation needs of
// a model. incremental_lm() wraps a loaded byte_lm (TransformerLM::step) or BLT
// (model/blt_inference.h); the model's own forward is untouched.
#pragma once
#include <torch/torch.h>

#include <memory>

#include "blt/model/causal_lm.h"

namespace blt::model {

class IncrementalLM {
 public:
  virtual ~IncrementalLM() = default;
  // Feeds the next id (BOS or a byte id) and returns the logits [vocab] for the
  // id after it: the last row of the model's forward over every id fed so far.
  virtual torch::Tensor push(int64_t id) = 0;
  // Whether one more id would exceed the model's context (its max_seq_len keys).
  virtual bool full() const = 0;
  // Patches completed so far (0 for models without patches).
  virtual int64_t patches() const { return 0; }
};

// The incremental form of `model` (type blt or byte_lm, in eval mode). A BLT
// with an entropy patching mode needs its patcher set (load_model_checkpoint
// does that when the config names the entropy model).
std::unique_ptr<IncrementalLM> incremental_lm(std::shared_ptr<CausalLM> model);

}  // namespace blt::model
