#include "blt/model/hash_ngram.h"

namespace blt::model {

const std::vector<int64_t>& hash_primes() {
  static const std::vector<int64_t> primes{1000000007LL, 5915587277LL, 1500450271LL, 3267000013LL,
                                           5754853343LL, 4093082899LL, 9576890767LL, 3628273133LL,
                                           2860486313LL, 5463458053LL, 3367900313LL};
  return primes;
}

torch::Tensor ngram_hash(const torch::Tensor& tokens, int64_t n, int64_t prime, int64_t vocab) {
  torch::NoGradGuard no_grad;
  const int64_t L = tokens.size(1);
  auto padded = torch::constant_pad_nd(tokens.to(torch::kLong), {n - 1, 0}, 0);
  // prime^j modulo 2^64: unsigned multiplication wraps by definition, and the
  // bit pattern is the int64 wrap-around the reference gets from torch.
  std::vector<int64_t> powers(static_cast<std::size_t>(n));
  uint64_t p = 1;
  for (int64_t j = 0; j < n; ++j) {
    powers[static_cast<std::size_t>(j)] = static_cast<int64_t>(p);
    p *= static_cast<uint64_t>(prime);
  }
  auto hash = torch::zeros_like(tokens, tokens.options().dtype(torch::kLong));
  for (int64_t j = 0; j < n; ++j) {
    // Window position j of the n-gram ending at i is padded index i + j.
    auto ids = padded.narrow(1, j, L);
    hash = hash + ids * powers[static_cast<std::size_t>(j)];
  }
  return torch::remainder(hash, vocab);
}

torch::Tensor hash_embedding_rows(const torch::Tensor& tokens, const HashEmbeddingConfig& config) {
  std::vector<torch::Tensor> rows;
  int64_t table = 0;
  const auto& primes = hash_primes();
  for (int64_t f = 0; f < config.functions; ++f) {
    const int64_t prime = primes[static_cast<std::size_t>(f) % primes.size()];
    for (int64_t n : config.ngram_sizes) {
      rows.push_back(ngram_hash(tokens, n, prime, config.vocab) + table * config.vocab);
      ++table;
    }
  }
  return torch::stack(rows, -1);
}

}  // namespace blt::model
