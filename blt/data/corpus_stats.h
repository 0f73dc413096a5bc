// What is in a set of shards: sizes, byte-unigram entropy, UTF-8 script mix.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "blt/data/shard_reader.h"

namespace blt::data {

struct CorpusStats {
  uint64_t docs = 0, bytes = 0;
  uint64_t min_doc_bytes = 0, max_doc_bytes = 0;
  std::array<uint64_t, 256> byte_counts{};
  uint64_t chars = 0;              // decoded code points
  uint64_t invalid_utf8_bytes = 0;  // bytes that start no valid UTF-8 sequence
  std::vector<std::pair<std::string, uint64_t>> script_chars;  // script name -> code points, most first

  // Entropy of the byte-unigram distribution in bits per byte: the BPB of the
  // best model that ignores context, the baseline a trained model must beat.
  double unigram_entropy_bits() const;
  double mean_doc_bytes() const { return docs ? double(bytes) / double(docs) : 0.0; }
  void merge(const CorpusStats& other);
};

CorpusStats compute_stats(const ShardSet& shards);
// Script of a Unicode code point, coarse ("Latin", "Cyrillic", "Han", "Common", ...).
const char* script_of(uint32_t code_point);
std::string format_stats(const std::string& name, const CorpusStats& stats);
std::string stats_json(const CorpusStats& stats);

}  // namespace blt::data
