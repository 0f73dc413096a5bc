#include "blt/data/shard_writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "blt/core/checksum.h"
#include "blt/core/error.h"
#include "blt/core/files.h"
#include "blt/data/shard_format.h"

namespace blt::data {

ShardWriter::ShardWriter(std::string path) : path_(std::move(path)), temp_path_(path_ + ".tmp") {
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (!file_) fail("cannot create shard '{}': {}", temp_path_, std::strerror(errno));
  const ShardHeader placeholder{};
  write(&placeholder, sizeof placeholder);
  block_.reserve(kPayloadBlockBytes);
}

ShardWriter::~ShardWriter() {
  if (file_) {  // not finished: an exception unwound us; leave nothing behind
    std::fclose(file_);
    std::remove(temp_path_.c_str());
  }
}

void ShardWriter::write(const void* data, std::size_t size) {
  if (size && std::fwrite(data, 1, size, file_) != size) fail("writing shard '{}' failed: {}", temp_path_, std::strerror(errno));
}

void ShardWriter::flush_block() {
  block_crcs_.push_back(crc32c(block_.data(), block_.size()));
  write(block_.data(), block_.size());
  block_.clear();
}

void ShardWriter::add(std::string_view document) {
  std::size_t done = 0;
  while (done < document.size()) {
    const std::size_t take = std::min<std::size_t>(document.size() - done, kPayloadBlockBytes - block_.size());
    block_.insert(block_.end(), document.data() + done, document.data() + done + take);
    done += take;
    if (block_.size() == kPayloadBlockBytes) flush_block();
  }
  offsets_.push_back(offsets_.back() + document.size());
}

void ShardWriter::finish() {
  if (!block_.empty()) flush_block();
  ShardHeader h{};
  std::memcpy(h.magic, kShardMagic, sizeof h.magic);
  h.version = kShardVersion;
  h.header_bytes = sizeof(ShardHeader);
  h.num_docs = num_docs();
  h.payload_offset = sizeof(ShardHeader);
  h.payload_bytes = payload_bytes();
  h.index_offset = h.payload_offset + h.payload_bytes;
  h.block_bytes = kPayloadBlockBytes;
  const std::size_t index_bytes = offsets_.size() * sizeof(uint64_t);
  h.metadata_crc = crc32c(block_crcs_.data(), block_crcs_.size() * sizeof(uint32_t),
                          crc32c(offsets_.data(), index_bytes));
  h.header_crc = crc32c(&h, offsetof(ShardHeader, header_crc));
  write(offsets_.data(), index_bytes);
  write(block_crcs_.data(), block_crcs_.size() * sizeof(uint32_t));
  if (std::fseek(file_, 0, SEEK_SET) != 0) fail("seeking in shard '{}' failed: {}", temp_path_, std::strerror(errno));
  write(&h, sizeof h);
  bool ok = std::fflush(file_) == 0 && fsync(fileno(file_)) == 0;
  int error = errno;
  if (std::fclose(file_) != 0 && ok) {
    ok = false;
    error = errno;
  }
  file_ = nullptr;
  if (!ok) {
    std::remove(temp_path_.c_str());
    fail("writing shard '{}' failed: {}", temp_path_, std::strerror(error));
  }
  rename_file(temp_path_, path_);
}

ShardSetWriter::ShardSetWriter(std::string dir, uint64_t max_shard_bytes)
    : dir_(std::move(dir)), max_shard_bytes_(max_shard_bytes) {
  std::filesystem::create_directories(dir_);
}

void ShardSetWriter::add(std::string_view document) {
  if (current_ && current_->payload_bytes() >= max_shard_bytes_) {
    current_->finish();
    current_.reset();
  }
  if (!current_)
    current_ = std::make_unique<ShardWriter>(fmt::format("{}/shard-{:05d}{}", dir_, shards_++, kShardExtension));
  current_->add(document);
  ++docs_;
  bytes_ += document.size();
}

void ShardSetWriter::finish() {
  if (current_) current_->finish();
  current_.reset();
}

}  // namespace blt::data
