// Read-only access to byte shards: each shard is memory-mapped and its metadata
// verified on open (payload checksums too, unless told otherwise).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "blt/data/shard_format.h"

namespace blt::data {

class Shard {
 public:
  // Throws blt::Error naming the file and byte offset of any inconsistency.
  static std::shared_ptr<const Shard> open(const std::string& path, bool verify_payload);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  const std::string& path() const { return path_; }
  uint64_t num_docs() const { return header_.num_docs; }
  uint64_t payload_bytes() const { return header_.payload_bytes; }
  std::string_view doc(uint64_t d) const {
    return {reinterpret_cast<const char*>(payload_) + index_[d], static_cast<std::size_t>(index_[d + 1] - index_[d])};
  }
  uint64_t doc_size(uint64_t d) const { return index_[d + 1] - index_[d]; }
  std::string_view payload() const { return {reinterpret_cast<const char*>(payload_), header_.payload_bytes}; }
  // Identifies the content: changes whenever any document changes.
  uint32_t fingerprint() const { return header_.metadata_crc; }
  void verify_payload() const;

 private:
  Shard() = default;
  std::string path_;
  ShardHeader header_{};
  const uint8_t* map_ = nullptr;
  std::size_t map_bytes_ = 0;
  const uint8_t* payload_ = nullptr;
  const uint64_t* index_ = nullptr;
  const uint32_t* block_crcs_ = nullptr;
};

// Shards found from a spec: a directory (every *.bltshard in it, sorted by name),
// a single file, or a glob pattern; several specs may be joined with ','.
std::vector<std::string> find_shards(const std::string& spec);

// An ordered list of shards seen as one corpus of documents 0..num_docs()-1.
class ShardSet {
 public:
  ShardSet(const std::string& spec, bool verify_payload);
  uint64_t num_docs() const { return doc_start_.back(); }
  uint64_t num_bytes() const { return bytes_; }
  std::string_view doc(uint64_t global_doc) const;
  uint64_t doc_size(uint64_t global_doc) const;
  const std::vector<std::shared_ptr<const Shard>>& shards() const { return shards_; }
  // Hash of every shard's fingerprint and size, in order: resuming a loader on other data is an error.
  uint64_t fingerprint() const { return fingerprint_; }
  const std::string& spec() const { return spec_; }

 private:
  std::pair<std::size_t, uint64_t> locate(uint64_t global_doc) const;
  std::string spec_;
  std::vector<std::shared_ptr<const Shard>> shards_;
  std::vector<uint64_t> doc_start_{0};
  uint64_t bytes_ = 0;
  uint64_t fingerprint_ = 0;
};

}  // namespace blt::data
