#include "blt/train/checkpoint_store.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include <spdlog/spdlog.h>

#include "blt/core/error.h"
#include "blt/core/files.h"

namespace blt::train {
namespace fs = std::filesystem;

namespace {
constexpr const char* kPrefix = "step-";
constexpr const char* kStaging = ".tmp";

// step-<digits>: a published checkpoint (not staging, not a stranger's directory).
bool is_published_name(const std::string& name) {
  const std::size_t n = std::char_traits<char>::length(kPrefix);
  return name.size() > n && name.rfind(kPrefix, 0) == 0 &&
         std::all_of(name.begin() + n, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

CheckpointStore::CheckpointStore(std::string dir) : dir_(std::move(dir)) {}

std::string CheckpointStore::final_dir(int64_t step) const { return fmt::format("{}/{}{:08d}", dir_, kPrefix, step); }
std::string CheckpointStore::staging_dir(int64_t step) const { return final_dir(step) + kStaging; }

std::vector<std::string> CheckpointStore::published() const {
  std::vector<std::string> names;
  if (!fs::is_directory(dir_)) return names;
  for (const auto& e : fs::directory_iterator(dir_)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && is_published_name(name)) names.push_back(name);
  }
  // Numeric order: steps are zero-padded to 8 digits, longer beyond that.
  std::sort(names.begin(), names.end(),
            [](const std::string& a, const std::string& b) { return std::make_pair(a.size(), a) < std::make_pair(b.size(), b); });
  return names;
}

std::optional<std::string> CheckpointStore::latest() const {
  const std::string pointer = dir_ + "/latest";
  if (!fs::exists(pointer)) {
    // The pointer was lost (deleted, or a crash between the first rename and its
    // write), not the checkpoints: a step directory only exists once complete.
    const auto names = published();
    if (names.empty()) return std::nullopt;
    spdlog::warn("{} is missing; taking {}, the newest of the {} complete checkpoints there", pointer,
                 names.back(), names.size());
    return dir_ + "/" + names.back();
  }
  std::string name = read_text_file(pointer);
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  const std::string path = dir_ + "/" + name;
  if (name.rfind(kPrefix, 0) != 0 || !fs::is_directory(path))
    fail("checkpoint pointer '{}' names '{}', which is not a checkpoint directory", pointer, name);
  return path;
}

void CheckpointStore::remove_incomplete() const {
  if (!fs::is_directory(dir_)) return;
  for (const auto& e : fs::directory_iterator(dir_)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name.rfind(kPrefix, 0) == 0 && name.size() > 4 &&
        name.compare(name.size() - 4, 4, kStaging) == 0)
      fs::remove_all(e.path());
  }
}

std::string CheckpointStore::begin(int64_t step) const {
  const std::string staging = staging_dir(step);
  fs::remove_all(staging);
  fs::create_directories(staging);
  return staging;
}

std::string CheckpointStore::publish(int64_t step, int64_t keep) const {
  const std::string staging = staging_dir(step), target = final_dir(step);
  fs::remove_all(target);  // a re-run of the same step replaces it
  fs::rename(staging, target);
  sync_directory(dir_);
  write_file_atomic(dir_ + "/latest", fs::path(target).filename().string() + "\n");
  const auto complete = published();
  for (std::size_t i = 0; i + keep < complete.size(); ++i) fs::remove_all(dir_ + "/" + complete[i]);
  return target;
}

}  // namespace blt::train
