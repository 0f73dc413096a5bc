// The corpus as one endless, deterministic stream of ids: epoch after epoch,
// the documents (shuffled with the seed and the epoch number, or in corpus
// order) each as BOS, bytes + 4, EOS -- or, for token shards (token-LM
// baseline, data/token_shards.h), BOS, the document's token ids, EOS. Training sequence s is the L + 1 ids at
// stream positions [s * L, s * L + L], so consecutive sequences share one id and
// every id after the first is a prediction target exactly once.
//
// A pure function of (corpus, seed, shuffle): any rank can read any sequence
// without reading the others, which is what lets the loader slice the stream
// by (rank, worker) and resume at any world size.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "blt/data/shard_reader.h"
#include "blt/data/token_shards.h"

namespace blt::data {

class PackedStream {
 public:
  // Token shards are recognised by their tokens.json (read_token_table).
  PackedStream(std::shared_ptr<const ShardSet> corpus, uint64_t seed, bool shuffle);

  // Ids in one epoch: the sum over documents of (bytes or tokens + 2).
  uint64_t epoch_ids() const { return epoch_ids_; }
  // Writes the ids at stream positions [position, position + count) to `out`;
  // positions past the end of epoch e continue into epoch e + 1.
  void read(uint64_t position, uint64_t count, int64_t* out) const;
  const ShardSet& corpus() const { return *corpus_; }
  // Token shards: their table (bytes of text per id); null for byte shards.
  const std::shared_ptr<const TokenTable>& token_table() const { return tokens_; }

 private:
  struct EpochPlan {
    uint64_t epoch;
    std::vector<uint32_t> order;   // document ids in stream order
    std::vector<uint64_t> starts;  // stream offset of each entry within the epoch, plus the end
  };
  std::shared_ptr<const EpochPlan> plan(uint64_t epoch) const;
  uint64_t doc_ids(uint64_t d) const { return tokens_ ? corpus_->doc_size(d) / kTokenIdBytes : corpus_->doc_size(d); }
  // Ids [first, first + count) of document d's content (without BOS/EOS).
  void write_doc(uint64_t d, uint64_t first, uint64_t count, int64_t* out) const;

  std::shared_ptr<const ShardSet> corpus_;
  std::shared_ptr<const TokenTable> tokens_;  // null: byte ids
  uint64_t seed_;
  bool shuffle_;
  uint64_t epoch_ids_ = 0;
  mutable std::mutex mutex_;
  mutable std::vector<std::shared_ptr<const EpochPlan>> cache_;  // the two most recent epochs
};

// Deterministic Fisher-Yates permutation of 0..n-1 (same on every platform and libstdc++).
std::vector<uint32_t> shuffled_order(uint64_t n, uint64_t seed);

}  // namespace blt::data
