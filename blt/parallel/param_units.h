// The units of sharding: groups of parameters gathered and reduce-scattered
// together. Each transformer block (a name containing "layers.N.") is one unit,
// each embedding table (a module named embed_* or *_embedding: the byte
// embeddings and the hash n-gram tables) is one, and all remaining parameters
// (norms, projections, the head) form the last.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace blt::parallel {

struct ParamUnit {
  std::string name;  // e.g. "global_transformer.layers.3", "encoder_hash_tok_embedding", "rest"
  std::vector<std::pair<std::string, torch::Tensor>> params;  // in module order
};

// Splits named parameters (module order) into units, in order of first appearance.
std::vector<ParamUnit> split_into_units(const std::vector<std::pair<std::string, torch::Tensor>>& named);

}  // namespace blt::parallel
