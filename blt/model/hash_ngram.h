// Hash n-gram ids of the BLT local encoder (spec section 3). For every position
// i and n-gram size n, the n ids ending at i (left-padded with id 0) are hashed
// as sum_j id_j * prime^j (j = 0 for the oldest id) in int64 with wrap-around,
// then reduced to a non-negative remainder modulo the table size. Hash function
// f uses the f-th prime. All tables live in one embedding matrix, ordered hash
// function first, then n-gram size, so table t's rows start at t * vocab.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "blt/model/model_config.h"

namespace blt::model {

// The primes of the reference implementation, in its order.
const std::vector<int64_t>& hash_primes();

// Hash of the n-grams ending at every position of tokens [B, L] (int64): [B, L] in [0, vocab).
torch::Tensor ngram_hash(const torch::Tensor& tokens, int64_t n, int64_t prime, int64_t vocab);

// Row indices into the stacked tables for every table: [B, L, tables] int64.
torch::Tensor hash_embedding_rows(const torch::Tensor& tokens, const HashEmbeddingConfig& config);

}  // namespace blt::model
