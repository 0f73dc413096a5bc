#include "blt/parallel/sharded_checkpoint.h"

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "blt/core/error.h"
#include "blt/core/files.h"

namespace blt::parallel {
namespace {

constexpr const char* kManifestFile = "shards.json";
constexpr const char* kRangePrefix = "range.";

std::string shard_path(const std::string& dir, int rank, int world_size) {
  return fmt::format("{}/shard-{:05d}-of-{:05d}.safetensors", dir, rank, world_size);
}

}  // namespace

void write_shard(const std::string& dir, int rank, int world_size, const std::vector<ParamSlice>& slices) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& s : slices) {
    const int64_t count = s.parts.begin()->second.numel();
    tensors.emplace_back(kRangePrefix + s.name, torch::tensor({s.begin, s.begin + count}, torch::kLong));
    for (const auto& [kind, t] : s.parts) tensors.emplace_back(kind + "." + s.name, t.detach());
  }
  safetensors::write(shard_path(dir, rank, world_size), tensors);
}

void write_shard_manifest(const std::string& dir, int world_size, int64_t optimizer_steps, const ParamShapes& shapes) {
  nlohmann::json params = nlohmann::json::array();
  for (const auto& [name, shape] : shapes) params.push_back({{"name", name}, {"shape", shape}});
  const nlohmann::json manifest = {{"world_size", world_size}, {"optimizer_steps", optimizer_steps}, {"params", params}};
  write_file_atomic(dir + "/" + kManifestFile, manifest.dump(1));
}

ShardReader::ShardReader(const std::string& dir) : manifest_path_(dir + "/" + kManifestFile) {
  int world_size = 0;
  try {
    const auto manifest = nlohmann::json::parse(read_text_file(manifest_path_));
    world_size = manifest.at("world_size").get<int>();
    optimizer_steps_ = manifest.at("optimizer_steps").get<int64_t>();
    for (const auto& p : manifest.at("params"))
      shapes_.emplace_back(p.at("name").get<std::string>(), p.at("shape").get<std::vector<int64_t>>());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not a valid shard manifest: {}", manifest_path_, e.what());
  }
  if (world_size < 1) fail("{}: world_size {} must be at least 1", manifest_path_, world_size);
  for (int r = 0; r < world_size; ++r) {
    File f;
    f.reader = std::make_unique<safetensors::Reader>(shard_path(dir, r, world_size));
    for (const auto& info : f.reader->tensors()) {
      if (info.name.rfind(kRangePrefix, 0) != 0) continue;
      const auto range = f.reader->load(info.name);
      f.ranges[info.name.substr(std::string(kRangePrefix).size())] = {range[0].item<int64_t>(), range[1].item<int64_t>()};
    }
    files_.push_back(std::move(f));
  }
}

ShardReader::~ShardReader() = default;

void ShardReader::check_shapes(const ParamShapes& model) const {
  std::map<std::string, std::vector<int64_t>> saved(shapes_.begin(), shapes_.end());
  for (const auto& [name, shape] : model) {
    const auto it = saved.find(name);
    if (it == saved.end()) fail("{}: the checkpoint has no parameter '{}'", manifest_path_, name);
    if (it->second != shape)
      fail("{}: parameter '{}' has shape {} in the checkpoint, the model needs {}", manifest_path_, name, it->second,
           shape);
    saved.erase(it);
  }
  if (!saved.empty()) fail("{}: parameter '{}' is not in the model", manifest_path_, saved.begin()->first);
}

void ShardReader::read(ParamSlice& slice) const {
  torch::NoGradGuard no_grad;
  const int64_t begin = slice.begin, end = begin + slice.parts.begin()->second.numel();
  int64_t covered = 0;
  for (const auto& f : files_) {
    const auto it = f.ranges.find(slice.name);
    if (it == f.ranges.end()) continue;
    const auto [file_begin, file_end] = it->second;
    const int64_t lo = std::max(begin, file_begin), hi = std::min(end, file_end);
    if (lo >= hi) continue;
    for (auto& [kind, dest] : slice.parts) {
      const auto saved = f.reader->load(kind + "." + slice.name);
      if (saved.numel() != file_end - file_begin)
        fail("{}: '{}.{}' has {} elements, its range says {}", f.reader->path(), kind, slice.name, saved.numel(),
             file_end - file_begin);
      dest.narrow(0, lo - begin, hi - lo).copy_(saved.narrow(0, lo - file_begin, hi - lo));
    }
    covered += hi - lo;
  }
  if (covered != end - begin)
    fail("{}: elements [{}, {}) of parameter '{}' are not all in the shard files", manifest_path_, begin, end, slice.name);
}

}  // namespace blt::parallel
