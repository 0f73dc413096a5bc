// Checksums and content hashes used by the shard format and the data split.
#pragma once
#include <cstddef>
#include <cstdint>

namespace blt {

// CRC-32C (Castagnoli), software slicing-by-8; `crc` chains calls over pieces.
uint32_t crc32c(const void* data, std::size_t size, uint32_t crc = 0);

// 64-bit FNV-1a followed by a finalising mix: a stable content hash (not cryptographic).
uint64_t content_hash(const void* data, std::size_t size, uint64_t seed = 0);

// splitmix64 step: a well-mixed 64-bit value from any 64-bit state.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace blt
