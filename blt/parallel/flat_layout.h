// Where the parameters of one unit lie in the unit's flat space, and which
// part of that space each rank owns. The space is the parameters flattened and
// concatenated in order, zero-padded to a multiple of the world size; rank r
// owns the contiguous chunk [r * shard_numel, (r + 1) * shard_numel). A chunk
// cuts at most one contiguous piece out of each parameter.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace blt::parallel {

struct FlatEntry {
  std::string name;
  std::vector<int64_t> shape;
  bool decay = false;  // weight decay applies to every element of this parameter
  int64_t offset = 0;  // first element in the flat space (set by FlatLayout)
  int64_t numel = 0;   // (set by FlatLayout)
};

// The elements [begin, begin + count) of flattened parameter entries[entry],
// stored at shard_offset within the owning rank's chunk.
struct FlatPiece {
  std::size_t entry;
  int64_t begin;
  int64_t count;
  int64_t shard_offset;
};

class FlatLayout {
 public:
  FlatLayout(std::vector<FlatEntry> entries, int world_size);

  const std::vector<FlatEntry>& entries() const { return entries_; }
  int64_t padded_numel() const { return shard_numel_ * world_size_; }
  int64_t shard_numel() const { return shard_numel_; }
  // The non-empty pieces of parameters inside `rank`'s chunk, in flat order.
  std::vector<FlatPiece> pieces(int rank) const;

 private:
  std::vector<FlatEntry> entries_;
  int world_size_;
  int64_t shard_numel_ = 0;
};

}  // namespace blt::parallel
