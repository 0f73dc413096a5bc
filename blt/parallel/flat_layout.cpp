#include "blt/parallel/flat_layout.h"

#include <algorithm>

#include "blt/core/error.h"

namespace blt::parallel {

FlatLayout::FlatLayout(std::vector<FlatEntry> entries, int world_size)
    : entries_(std::move(entries)), world_size_(world_size) {
  if (world_size < 1) fail("flat layout: world size {} must be at least 1", world_size);
  int64_t offset = 0;
  for (auto& e : entries_) {
    e.numel = 1;
    for (const auto d : e.shape) e.numel *= d;
    e.offset = offset;
    offset += e.numel;
  }
  shard_numel_ = (offset + world_size - 1) / world_size;
}

std::vector<FlatPiece> FlatLayout::pieces(int rank) const {
  const int64_t lo = rank * shard_numel_, hi = lo + shard_numel_;
  std::vector<FlatPiece> out;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const auto& e = entries_[i];
    const int64_t begin = std::max(lo, e.offset), end = std::min(hi, e.offset + e.numel);
    if (begin < end) out.push_back({i, begin - e.offset, end - begin, begin - lo});
  }
  return out;
}

}  // namespace blt::parallel
