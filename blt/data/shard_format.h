// The on-disk layout of a byte shard (`*.bltshard`). docs/data-format.md is the
// prose version of this file; keep them in step.
//
//   offset 0      ShardHeader (64 bytes, little-endian)
//   offset 64     payload: the documents' raw UTF-8 bytes, back to back
//   index_offset  uint64[num_docs + 1]: document d is payload[index[d], index[d+1])
//   after index   uint32[ceil(payload_bytes / block_bytes)]: CRC-32C of each payload block
//
// The header checksum covers header bytes [0, 56); the index checksum covers the
// index and the block-checksum table, so opening a shard verifies all metadata
// cheaply and payload corruption is located to one block.
#pragma once
#include <cstdint>

namespace blt::data {

constexpr char kShardMagic[8] = {'B', 'L', 'T', 'S', 'H', 'A', 'R', 'D'};
constexpr uint32_t kShardVersion = 1;
constexpr uint32_t kPayloadBlockBytes = 1u << 20;
constexpr const char* kShardExtension = ".bltshard";

struct ShardHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;    // sizeof(ShardHeader); lets later versions grow the header
  uint64_t num_docs;
  uint64_t payload_offset;  // always header_bytes in version 1
  uint64_t payload_bytes;
  uint64_t index_offset;    // payload_offset + payload_bytes
  uint32_t block_bytes;     // payload bytes per block checksum
  uint32_t metadata_crc;    // CRC-32C of index + block checksum table
  uint32_t header_crc;      // CRC-32C of bytes [0, offsetof(header_crc))
  uint32_t reserved;
};
static_assert(sizeof(ShardHeader) == 64, "shard header must stay 64 bytes");

constexpr uint64_t num_payload_blocks(uint64_t payload_bytes, uint32_t block_bytes) {
  return (payload_bytes + block_bytes - 1) / block_bytes;
}

}  // namespace blt::data
