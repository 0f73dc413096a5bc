#include "blt/data/shard_reader.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "blt/core/checksum.h"
#include "blt/core/error.h"

namespace blt::data {
namespace fs = std::filesystem;

std::shared_ptr<const Shard> Shard::open(const std::string& path, bool verify_payload) {
  std::shared_ptr<Shard> s(new Shard());
  s->path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail("cannot open shard '{}': {}", path, std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    fail("cannot stat shard '{}': {}", path, std::strerror(errno));
  }
  const auto file_bytes = static_cast<uint64_t>(st.st_size);
  char magic[sizeof kShardMagic] = {};
  const bool magic_ok = pread(fd, magic, sizeof magic, 0) == sizeof magic &&
                        std::memcmp(magic, kShardMagic, sizeof magic) == 0;
  if (file_bytes >= sizeof magic && !magic_ok) {
    ::close(fd);
    fail("'{}' is not a blt shard: bad magic at offset 0", path);
  }
  if (file_bytes < sizeof(ShardHeader)) {
    ::close(fd);
    fail("shard '{}' is truncated: {} bytes, but the header alone needs {} (at offset 0)", path, file_bytes,
         sizeof(ShardHeader));
  }
  void* map = mmap(nullptr, file_bytes, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) fail("cannot map shard '{}': {}", path, std::strerror(errno));
  s->map_ = static_cast<const uint8_t*>(map);
  s->map_bytes_ = file_bytes;
  madvise(map, file_bytes, MADV_WILLNEED);

  auto& h = s->header_;
  std::memcpy(&h, s->map_, sizeof h);
  if (h.version > kShardVersion)
    fail("shard '{}' has format version {} (at offset {}), newer than this blt reads ({}); upgrade blt", path,
         h.version, offsetof(ShardHeader, version), kShardVersion);
  if (h.version == 0) fail("shard '{}': invalid format version 0 at offset {}", path, offsetof(ShardHeader, version));
  if (crc32c(&h, offsetof(ShardHeader, header_crc)) != h.header_crc)
    fail("shard '{}': header checksum mismatch (header bytes [0, {}))", path, offsetof(ShardHeader, header_crc));
  if (h.header_bytes != sizeof(ShardHeader) || h.payload_offset != h.header_bytes ||
      h.index_offset != h.payload_offset + h.payload_bytes || h.block_bytes == 0)
    fail("shard '{}': inconsistent header layout (offset 0)", path);

  const uint64_t index_bytes = (h.num_docs + 1) * sizeof(uint64_t);
  const uint64_t crc_bytes = num_payload_blocks(h.payload_bytes, h.block_bytes) * sizeof(uint32_t);
  const uint64_t expected = h.index_offset + index_bytes + crc_bytes;
  if (file_bytes < expected)
    fail("shard '{}' is truncated: {} bytes, but its header promises {} (index at offset {})", path, file_bytes,
         expected, h.index_offset);
  if (file_bytes > expected)
    fail("shard '{}' has {} unexpected trailing bytes after offset {}", path, file_bytes - expected, expected);

  s->payload_ = s->map_ + h.payload_offset;
  s->index_ = reinterpret_cast<const uint64_t*>(s->map_ + h.index_offset);
  s->block_crcs_ = reinterpret_cast<const uint32_t*>(s->map_ + h.index_offset + index_bytes);
  if (crc32c(s->block_crcs_, crc_bytes, crc32c(s->index_, index_bytes)) != h.metadata_crc)
    fail("shard '{}': index checksum mismatch (index at offset {})", path, h.index_offset);
  // Checksums match, but a writer bug could still have produced a bad index: check it.
  if (s->index_[0] != 0) fail("shard '{}': index entry 0 (at offset {}) is not 0", path, h.index_offset);
  for (uint64_t d = 0; d < h.num_docs; ++d) {
    if (s->index_[d + 1] < s->index_[d] || s->index_[d + 1] > h.payload_bytes)
      fail("shard '{}': index entry {} (at offset {}) points past the payload end ({} bytes)", path, d + 1,
           h.index_offset + (d + 1) * sizeof(uint64_t), h.payload_bytes);
  }
  if (s->index_[h.num_docs] != h.payload_bytes)
    fail("shard '{}': last index entry (at offset {}) does not end the payload", path,
         h.index_offset + h.num_docs * sizeof(uint64_t));
  if (verify_payload) s->verify_payload();
  return s;
}

Shard::~Shard() {
  if (map_) munmap(const_cast<uint8_t*>(map_), map_bytes_);
}

void Shard::verify_payload() const {
  const uint64_t blocks = num_payload_blocks(header_.payload_bytes, header_.block_bytes);
  for (uint64_t b = 0; b < blocks; ++b) {
    const uint64_t begin = b * header_.block_bytes;
    const uint64_t end = std::min<uint64_t>(begin + header_.block_bytes, header_.payload_bytes);
    if (crc32c(payload_ + begin, end - begin) != block_crcs_[b])
      fail("shard '{}': payload checksum mismatch in bytes [{}, {}) of the file", path_, header_.payload_offset + begin,
           header_.payload_offset + end);
  }
}

std::vector<std::string> find_shards(const std::string& spec) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= spec.size()) {
    const auto comma = spec.find(',', start);
    const std::string part = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? spec.size() + 1 : comma + 1;
    if (part.empty()) continue;
    std::vector<std::string> found;
    if (fs::is_directory(part)) {
      for (const auto& e : fs::directory_iterator(part))
        if (e.is_regular_file() && e.path().extension() == kShardExtension) found.push_back(e.path().string());
      if (found.empty()) fail("no *{} files in directory '{}'", kShardExtension, part);
    } else if (part.find_first_of("*?[") != std::string::npos) {
      glob_t g{};
      if (glob(part.c_str(), 0, nullptr, &g) == 0)
        for (std::size_t i = 0; i < g.gl_pathc; ++i) found.emplace_back(g.gl_pathv[i]);
      globfree(&g);
      if (found.empty()) fail("no shard matches '{}'", part);
    } else {
      if (!fs::exists(part)) fail("shard path '{}' does not exist", part);
      found.push_back(part);
    }
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  if (out.empty()) fail("no shards given (empty path)");
  return out;
}

ShardSet::ShardSet(const std::string& spec, bool verify_payload) : spec_(spec) {
  for (const auto& path : find_shards(spec)) {
    shards_.push_back(Shard::open(path, verify_payload));
    const auto& s = *shards_.back();
    doc_start_.push_back(doc_start_.back() + s.num_docs());
    bytes_ += s.payload_bytes();
    fingerprint_ = splitmix64(fingerprint_ ^ (uint64_t(s.fingerprint()) << 32 | (s.num_docs() & 0xFFFFFFFFu)));
  }
  if (num_docs() == 0) fail("shards '{}' hold no documents", spec);
}

std::pair<std::size_t, uint64_t> ShardSet::locate(uint64_t global_doc) const {
  const auto it = std::upper_bound(doc_start_.begin(), doc_start_.end(), global_doc);
  const auto shard = static_cast<std::size_t>(it - doc_start_.begin()) - 1;
  return {shard, global_doc - doc_start_[shard]};
}

std::string_view ShardSet::doc(uint64_t global_doc) const {
  const auto [shard, local] = locate(global_doc);
  return shards_[shard]->doc(local);
}

uint64_t ShardSet::doc_size(uint64_t global_doc) const {
  const auto [shard, local] = locate(global_doc);
  return shards_[shard]->doc_size(local);
}

}  // namespace blt::data
