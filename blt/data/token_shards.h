// Token shards: the token baseline's text after BPE (blt-tokenizer encode).
// They are ordinary byte shards (shard_format.h) whose documents hold token ids
// as little-endian uint32, with a `tokens.json` in the same directory: the
// tokenizer's vocabulary size and, for every id, the bytes of text it stands
// for. A token LM's bits per byte divides by those bytes, so it is measured over
// the same text as the byte models' (train/byte_loss.h).
//
// This file is free of LibTorch and SentencePiece: blt reads token shards and
// blt-tokenizer writes them, and the two never share a process (docs/sweeps.md).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "blt/data/shard_reader.h"

namespace blt::data {

constexpr const char* kTokenTableFile = "tokens.json";
constexpr uint64_t kTokenIdBytes = 4;

struct TokenTable {
  std::string tokenizer;             // the SentencePiece model the ids come from
  int64_t vocab_size = 0;
  std::vector<double> bytes_per_id;  // indexed by id; 0 for the special ids
  uint64_t text_bytes = 0;           // of the encoded text, over every directory read
  uint64_t tokens = 0;

  double bytes_per_token() const { return tokens > 0 ? double(text_bytes) / double(tokens) : 0.0; }
  std::string to_json() const;
};

// The table of token shards, or null when `corpus` holds bytes (no tokens.json
// beside its shards). Fails naming the directory when only some of the shard
// directories have a table, when their tables differ in vocabulary, or when a
// shard's payload is not whole ids.
std::shared_ptr<const TokenTable> read_token_table(const ShardSet& corpus);

// A document's ids as a shard payload, and back: ids [first, first + count) of
// `payload` into `out`.
std::string pack_token_ids(const std::vector<int32_t>& ids);
void unpack_token_ids(std::string_view payload, uint64_t first, uint64_t count, int64_t* out);

}  // namespace blt::data
