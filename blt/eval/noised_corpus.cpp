#include "blt/eval/noised_corpus.h"

#include "blt/data/shard_writer.h"
#include "blt/eval/seeded_random.h"

namespace blt::eval {

NoiseCounts write_noised_corpus(const data::ShardSet& corpus, NoiseType type, double rate, uint64_t seed,
                                const std::string& dir) {
  const uint64_t type_seed = derive_seed(seed, static_cast<uint64_t>(type));
  data::ShardSetWriter writer(dir, uint64_t{1} << 30);
  NoiseCounts counts;
  for (uint64_t d = 0; d < corpus.num_docs(); ++d)
    writer.add(add_noise(corpus.doc(d), type, rate, derive_seed(type_seed, d), &counts));
  writer.finish();
  return counts;
}

}  // namespace blt::eval
