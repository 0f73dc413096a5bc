// What the trainer sees of every model type: a causal LM over ids that returns
// next-id logits, reports its parameter counts per component and splits its
// parameters into weight-decay groups.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "blt/model/attention_masks.h"
#include "blt/model/model_config.h"

namespace blt::model {

struct ModelInput {
  torch::Tensor tokens;         // int64 [B, L]
  torch::Tensor patch_lengths;  // int64 [B, P] (blt only; undefined = computed by the model's patcher)
  // The tokens' documents as spans (byte-level models; optional), from the host's copy of
  // the batch: lets the byte-level attention run flash over packed documents on a GPU.
  SequenceSpans documents = {};
};

struct ComponentCount {
  std::string component;
  int64_t parameters;
};

struct ParameterGroups {
  std::vector<std::pair<std::string, torch::Tensor>> decay;     // matrices (linear weights, embeddings)
  std::vector<std::pair<std::string, torch::Tensor>> no_decay;  // vectors (norm scales)
};

class CausalLM : public torch::nn::Module {
 public:
  explicit CausalLM(ModelConfig config) : config_(std::move(config)) {}
  // Logits [B, L, vocab] for predicting the id after each position.
  virtual torch::Tensor forward(const ModelInput& input) = 0;
  // Parameters per component, in a fixed order; they sum to the model's total.
  virtual std::vector<ComponentCount> parameter_counts() const = 0;
  const ModelConfig& config() const { return config_; }
  // Recompute every transformer layer in backward instead of storing its activations.
  void set_activation_checkpointing(bool on);
  // Replay the global transformer's forward and backward from CUDA graphs (model/graphed_call.h);
  // returns how many parts of the model take them (0: none, e.g. a model without one).
  int set_cuda_graphs(bool on);

 protected:
  ModelConfig config_;
};

// Validates the config and builds an initialised model of its type, on the CPU: the model a
// seed has always given (init.h, ParamPlacement).
std::shared_ptr<CausalLM> build_model(const ModelConfig& config);
// The same shapes built on `device` and initialised there by init_weights alone (the device's
// random numbers: another model than build_model's for a seed, the same on every rank), without
// creating or drawing anything on the host.
std::shared_ptr<CausalLM> build_model_on(const ModelConfig& config, const torch::Device& device);
// The same shapes on `device` with nothing drawn: parameters uninitialised, for a checkpoint load
// or a copy that fills every one of them (model_checkpoint.h's and the sharded reader's loads fail
// on any tensor they lack) or for counting parameters.
std::shared_ptr<CausalLM> build_model_for_load(const ModelConfig& config, const torch::Device& device = torch::kCPU);

ParameterGroups parameter_groups(const torch::nn::Module& model);

int64_t count_parameters(const torch::nn::Module& model);

// Sums the parameters whose names start with each prefix (first match wins),
// in the order given; a parameter matching none of them is an error.
std::vector<ComponentCount> count_by_prefix(const torch::nn::Module& model,
                                            const std::vector<std::pair<std::string, std::string>>& component_prefixes);

}  // namespace blt::model
