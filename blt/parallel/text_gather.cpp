#include "blt/parallel/text_gather.h"

#include <algorithm>
#include <cstring>

namespace blt::parallel {

std::vector<std::string> all_gather_text(Comm& comm, const std::string& text) {
  if (!comm.distributed()) return {text};
  const auto on_device = torch::TensorOptions().device(comm.device());
  // Lengths first, then every text padded to the longest: all-gather needs equal sizes.
  const auto lengths =
      comm.all_gather(torch::full({1}, static_cast<int64_t>(text.size()), on_device.dtype(torch::kLong))).cpu();
  const int64_t longest = lengths.max().item<int64_t>();
  std::vector<std::string> out(comm.world_size());
  if (longest == 0) return out;
  auto mine = torch::zeros({longest}, torch::kUInt8);
  std::memcpy(mine.data_ptr<uint8_t>(), text.data(), text.size());
  const auto all = comm.all_gather(mine.to(comm.device())).cpu();
  const auto* bytes = reinterpret_cast<const char*>(all.data_ptr<uint8_t>());
  for (int r = 0; r < comm.world_size(); ++r) out[r].assign(bytes + r * longest, lengths[r].item<int64_t>());
  return out;
}

}  // namespace blt::parallel
