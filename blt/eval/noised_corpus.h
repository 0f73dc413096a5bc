// Held-out shards under character noise, for `blt eval --noise`: every document
// of a shard set rewritten by add_noise into new shards, which then go through
// the same bits-per-byte evaluation as the clean text.
#pragma once
#include <cstdint>
#include <string>

#include "blt/data/shard_reader.h"
#include "blt/eval/noise.h"

namespace blt::eval {

// Writes the documents of `corpus`, in order, each noised with its own seed
// (derived from `seed`, the noise type and the document's index), as shards in
// `dir`. Returns the candidates and edits summed over the documents.
NoiseCounts write_noised_corpus(const data::ShardSet& corpus, NoiseType type, double rate, uint64_t seed,
                                const std::string& dir);

}  // namespace blt::eval
