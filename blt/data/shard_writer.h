// Streams documents into byte shards with bounded memory: the payload goes to
// disk as it arrives; only the offsets of the current shard are held.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace blt::data {

// One shard file. Written under a temporary name and renamed by finish(), so
// a crash never leaves a file that looks complete.
class ShardWriter {
 public:
  explicit ShardWriter(std::string path);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  void add(std::string_view document);
  void finish();
  uint64_t payload_bytes() const { return offsets_.back(); }
  uint64_t num_docs() const { return offsets_.size() - 1; }

 private:
  void write(const void* data, std::size_t size);
  void flush_block();
  std::string path_, temp_path_;
  std::FILE* file_ = nullptr;
  std::vector<uint64_t> offsets_{0};
  std::vector<uint32_t> block_crcs_;
  std::vector<char> block_;  // payload bytes of the block being filled
};

// A directory of shards `shard-00000.bltshard`, ... starting a new shard once
// the current one holds `max_shard_bytes` of payload.
class ShardSetWriter {
 public:
  ShardSetWriter(std::string dir, uint64_t max_shard_bytes);
  void add(std::string_view document);
  void finish();
  uint64_t num_docs() const { return docs_; }
  uint64_t num_bytes() const { return bytes_; }
  int num_shards() const { return shards_; }

 private:
  std::string dir_;
  uint64_t max_shard_bytes_;
  std::unique_ptr<ShardWriter> current_;
  int shards_ = 0;
  uint64_t docs_ = 0, bytes_ = 0;
};

}  // namespace blt::data
