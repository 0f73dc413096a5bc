#include "blt/data/packed_stream.h"

#include <algorithm>

#include "blt/core/checksum.h"
#include "blt/core/error.h"
#include "blt/data/byte_ids.h"

namespace blt::data {

std::vector<uint32_t> shuffled_order(uint64_t n, uint64_t seed) {
  std::vector<uint32_t> order(n);
  for (uint64_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
  uint64_t state = splitmix64(seed);
  for (uint64_t i = n; i > 1; --i) {
    state += 0x9E3779B97F4A7C15ull;
    // Multiply-shift maps a 64-bit draw onto [0, i); the bias is below 2^-32 for any corpus here.
    const auto j = static_cast<uint64_t>((static_cast<unsigned __int128>(splitmix64(state)) * i) >> 64);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

PackedStream::PackedStream(std::shared_ptr<const ShardSet> corpus, uint64_t seed, bool shuffle)
    : corpus_(std::move(corpus)), seed_(seed), shuffle_(shuffle) {
  if (corpus_->num_docs() >= (1ull << 32)) fail("corpus '{}' has more than 2^32 documents", corpus_->spec());
  tokens_ = read_token_table(*corpus_);
  const uint64_t content = tokens_ ? corpus_->num_bytes() / kTokenIdBytes : corpus_->num_bytes();
  epoch_ids_ = content + 2 * corpus_->num_docs();
}

void PackedStream::write_doc(uint64_t d, uint64_t first, uint64_t count, int64_t* out) const {
  if (tokens_) {
    unpack_token_ids(corpus_->doc(d), first, count, out);
    return;
  }
  const auto* src = reinterpret_cast<const uint8_t*>(corpus_->doc(d).data()) + first;
  for (uint64_t i = 0; i < count; ++i) out[i] = byte_to_id(src[i]);
}

std::shared_ptr<const PackedStream::EpochPlan> PackedStream::plan(uint64_t epoch) const {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& p : cache_)
      if (p->epoch == epoch) return p;
  }
  auto p = std::make_shared<EpochPlan>();
  p->epoch = epoch;
  const uint64_t n = corpus_->num_docs();
  if (shuffle_) {
    p->order = shuffled_order(n, seed_ * 0x100000001B3ull + epoch);
  } else {
    p->order.resize(n);
    for (uint64_t i = 0; i < n; ++i) p->order[i] = static_cast<uint32_t>(i);
  }
  p->starts.resize(n + 1);
  p->starts[0] = 0;
  for (uint64_t i = 0; i < n; ++i) p->starts[i + 1] = p->starts[i] + doc_ids(p->order[i]) + 2;
  std::lock_guard<std::mutex> lock(mutex_);
  cache_.push_back(p);
  if (cache_.size() > 2) cache_.erase(cache_.begin());
  return p;
}

void PackedStream::read(uint64_t position, uint64_t count, int64_t* out) const {
  while (count > 0) {
    const uint64_t epoch = position / epoch_ids_;
    uint64_t offset = position % epoch_ids_;
    const auto p = plan(epoch);
    auto entry = static_cast<uint64_t>(std::upper_bound(p->starts.begin(), p->starts.end(), offset) -
                                       p->starts.begin()) - 1;
    while (count > 0 && entry < p->order.size()) {
      const uint64_t doc = p->order[entry];
      const uint64_t size = doc_ids(doc);
      const uint64_t span = size + 2;
      uint64_t k = offset - p->starts[entry];  // 0 = BOS, 1..size = content, size + 1 = EOS
      if (k == 0 && count > 0) {
        *out++ = kBosId;
        ++k, --count, ++position;
      }
      const uint64_t content = std::min<uint64_t>(count, k <= size ? size + 1 - k : 0);
      if (content) write_doc(doc, k - 1, content, out);
      out += content, k += content, count -= content, position += content;
      if (k == span - 1 && count > 0) {
        *out++ = kEosId;
        --count, ++position;
      }
      offset = position % epoch_ids_;
      ++entry;
      if (offset == 0) break;  // crossed into the next epoch
    }
  }
}

}  // namespace blt::data
