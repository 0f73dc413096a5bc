#include "blt/data/token_shards.h"

#include <cstring>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "blt/core/error.h"
#include "blt/core/files.h"

namespace blt::data {
namespace fs = std::filesystem;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "token shards store ids little-endian; this host reads them as is");

std::string TokenTable::to_json() const {
  return nlohmann::json{{"tokenizer", tokenizer},   {"vocab_size", vocab_size}, {"text_bytes", text_bytes},
                        {"tokens", tokens},         {"bytes_per_token", bytes_per_token()},
                        {"bytes_per_id", bytes_per_id}}
             .dump(1) +
         "\n";
}

namespace {

TokenTable parse_table(const std::string& path) {
  TokenTable t;
  try {
    const auto j = nlohmann::json::parse(read_text_file(path));
    t.tokenizer = j.at("tokenizer").get<std::string>();
    t.vocab_size = j.at("vocab_size").get<int64_t>();
    t.bytes_per_id = j.at("bytes_per_id").get<std::vector<double>>();
    t.text_bytes = j.at("text_bytes").get<uint64_t>();
    t.tokens = j.at("tokens").get<uint64_t>();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not a token table written by blt-tokenizer encode: {}", path, e.what());
  }
  if (t.vocab_size < 1 || t.bytes_per_id.size() != static_cast<std::size_t>(t.vocab_size))
    fail("{}: bytes_per_id has {} entries for vocab_size {}", path, t.bytes_per_id.size(), t.vocab_size);
  return t;
}

}  // namespace

std::shared_ptr<const TokenTable> read_token_table(const ShardSet& corpus) {
  std::set<fs::path> dirs;
  for (const auto& shard : corpus.shards()) dirs.insert(fs::path(shard->path()).parent_path());
  std::shared_ptr<TokenTable> table;
  std::string first_dir, byte_dir;
  for (const auto& dir : dirs) {
    const fs::path path = dir / kTokenTableFile;
    if (!fs::exists(path)) {
      byte_dir = dir.string();
      continue;
    }
    const TokenTable t = parse_table(path.string());
    if (!table) {
      table = std::make_shared<TokenTable>(t);
      first_dir = dir.string();
      continue;
    }
    if (t.bytes_per_id != table->bytes_per_id)
      fail("token shards of two tokenizers in '{}': {} and {} have different vocabularies", corpus.spec(), first_dir,
           dir.string());
    table->text_bytes += t.text_bytes;
    table->tokens += t.tokens;
  }
  if (table && !byte_dir.empty())
    fail("'{}' mixes token shards ({} has {}) with byte shards ({} has none)", corpus.spec(), first_dir,
         kTokenTableFile, byte_dir);
  if (table)
    for (const auto& shard : corpus.shards())
      if (shard->payload_bytes() % kTokenIdBytes != 0)
        fail("token shard '{}': {} payload bytes are not whole {}-byte ids", shard->path(), shard->payload_bytes(),
             kTokenIdBytes);
  return table;
}

std::string pack_token_ids(const std::vector<int32_t>& ids) {
  std::string payload(ids.size() * kTokenIdBytes, '\0');
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const uint32_t id = static_cast<uint32_t>(ids[i]);
    std::memcpy(&payload[i * kTokenIdBytes], &id, kTokenIdBytes);
  }
  return payload;
}

void unpack_token_ids(std::string_view payload, uint64_t first, uint64_t count, int64_t* out) {
  const char* src = payload.data() + first * kTokenIdBytes;
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t id;
    std::memcpy(&id, src + i * kTokenIdBytes, kTokenIdBytes);
    out[i] = id;
  }
}

}  // namespace blt::data
