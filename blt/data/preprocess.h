// `blt preprocess`: documents from raw inputs -> train/valid byte shards.
// The split is by document content hash: deterministic, independent of input
// order, and identical documents always land on the same side.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "blt/data/text_sources.h"

namespace blt::data {

struct PreprocessOptions {
  std::vector<std::string> inputs;
  std::string out_dir;
  SourceOptions source;
  double valid_fraction = 0.01;
  uint64_t seed = 0;
  uint64_t shard_bytes = 256ull << 20;  // payload bytes per shard before starting the next
};

struct PreprocessReport {
  uint64_t train_docs = 0, train_bytes = 0, valid_docs = 0, valid_bytes = 0;
  int train_shards = 0, valid_shards = 0;
  SkippedFiles skipped_binary;  // binary files of directory walks, left out
  double seconds = 0;
};

// Writes out_dir/{train,valid}/shard-*.bltshard and out_dir/manifest.json. The
// output appears only when complete: it is built in a staging directory of this
// process's own and renamed (preprocess_output.h, which also says when an existing
// out_dir may be replaced).
PreprocessReport preprocess(const PreprocessOptions& options);

// True when a document with this content goes to the validation split.
bool is_valid_document(std::string_view doc, double valid_fraction, uint64_t seed);

}  // namespace blt::data
