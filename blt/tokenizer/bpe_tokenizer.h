// The BPE tokenizer of the token-LM baseline: a SentencePiece model trained on a
// sample of the training shards, set up so that tokens cover the text exactly.
// Only blt-tokenizer links this (and SentencePiece); blt reads what it writes,
// token shards (data/token_shards.h), never the model (docs/sweeps.md says why).
//
// Training options that make bits per byte comparable with the byte models:
// identity normalisation, no dummy-prefix space, whitespace kept as is, and byte
// fallback, so decode(encode(text)) == text and every token stands for a known
// number of the document's bytes (bytes_per_id). The four special ids take the
// places of the byte vocabulary's specials (data/byte_ids.h): 0 unknown (also
// the input padding), 1 BOS, 2 EOS, 3 pad; pieces start at id 4.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "blt/data/shard_reader.h"
#include "blt/data/token_shards.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace blt::tokenizer {

class BpeTokenizer {
 public:
  // Throws blt::Error naming `path` if it is not a SentencePiece model with the id layout above.
  explicit BpeTokenizer(const std::string& path);
  ~BpeTokenizer();
  BpeTokenizer(const BpeTokenizer&) = delete;
  BpeTokenizer& operator=(const BpeTokenizer&) = delete;

  std::vector<int32_t> encode(std::string_view text) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  int64_t vocab_size() const;
  // Bytes of text each id stands for (0 for the special ids), indexed by id.
  const std::vector<double>& bytes_per_id() const { return bytes_per_id_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::vector<double> bytes_per_id_;
};

struct TrainOptions {
  int64_t vocab_size = 8192;
  int64_t sample_bytes = 20 << 20;  // text drawn from the shards for training
  uint64_t seed = 0;                // which documents are drawn
  int64_t threads = 1;
};

// Trains a BPE model on a seeded sample of `corpus`'s documents and writes it to
// `out_path` (through a temporary file). Returns the bytes it was trained on.
int64_t train_tokenizer(const data::ShardSet& corpus, const TrainOptions& options, const std::string& out_path);

// Every document of `corpus`, in order, as token shards in `out_dir` with their
// tokens.json. Checks each document on the way: its ids decode to it and their
// bytes add up to its size. The table's counts are the returned ones.
data::TokenTable encode_shards(const data::ShardSet& corpus, const BpeTokenizer& tokenizer, const std::string& out_dir,
                               uint64_t max_shard_bytes, int threads);

}  // namespace blt::tokenizer
