#include "blt/data/preprocess_output.h"

#include <signal.h>
#include <sys/stat.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "blt/core/error.h"
#include "blt/core/files.h"

namespace blt::data {
namespace fs = std::filesystem;

namespace {

constexpr const char* kManifestFile = "manifest.json";
constexpr const char* kWrittenBy = "blt preprocess";

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || !name[0]) return "host";
  return name;
}

std::string without_trailing_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

// The staging and moved-aside directories of OUT are `OUT.partial-HOST-PID-RANDOM`
// and `OUT.replaced-HOST-PID-RANDOM`. True when `name` is one of them, made by a
// process of this host that has exited.
bool left_by_exited_process(const std::string& name, const std::string& prefix, const std::string& host) {
  if (name.rfind(prefix, 0) != 0) return false;
  const std::string id = name.substr(prefix.size());
  const auto random_dash = id.rfind('-');
  if (random_dash == std::string::npos || random_dash == 0) return false;
  const auto pid_dash = id.rfind('-', random_dash - 1);
  if (pid_dash == std::string::npos || id.substr(0, pid_dash) != host) return false;
  const std::string pid_text = id.substr(pid_dash + 1, random_dash - pid_dash - 1);
  if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos || pid_text.size() > 9)
    return false;
  return ::kill(static_cast<pid_t>(std::stol(pid_text)), 0) != 0 && errno == ESRCH;
}

// Staging directories of interrupted runs go; an earlier output moved aside by a run
// that died before publishing its own goes back to OUT when OUT is empty-handed.
void remove_left_overs(const fs::path& out) {
  const fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  if (!fs::is_directory(parent)) return;
  const std::string name = out.filename().string(), host = host_name();
  for (const auto& entry : fs::directory_iterator(parent)) {
    const std::string entry_name = entry.path().filename().string();
    std::error_code ec;
    if (left_by_exited_process(entry_name, name + ".partial-", host)) {
      spdlog::warn("removing '{}', left by an interrupted blt preprocess", entry.path().string());
      fs::remove_all(entry.path(), ec);
    } else if (left_by_exited_process(entry_name, name + ".replaced-", host)) {
      if (!fs::exists(fs::symlink_status(out)) && ::rename(entry.path().c_str(), out.c_str()) == 0) {
        spdlog::warn("restored '{}' from '{}', moved aside by an interrupted blt preprocess", out.string(),
                     entry.path().string());
      } else {
        fs::remove_all(entry.path(), ec);
      }
    }
  }
}

}  // namespace

std::string why_not_replaceable(const std::string& dir, std::string* run_id) {
  const fs::path root(dir);
  const auto status = fs::symlink_status(root);
  if (fs::is_symlink(status)) return "is a symbolic link, not a blt preprocess output";
  if (!fs::is_directory(status)) return "exists and is not a directory";
  const fs::path manifest_path = root / kManifestFile;
  if (!fs::is_regular_file(fs::symlink_status(manifest_path)))
    return "exists and is not a blt preprocess output (no manifest.json)";
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(read_text_file(manifest_path.string()));
  } catch (const std::exception&) {
    return "has a manifest.json that blt preprocess did not write";
  }
  if (!manifest.is_object() || manifest.value("written_by", "") != kWrittenBy || !manifest["run_id"].is_string() ||
      !manifest["output_files"].is_object() || !manifest["output_dirs"].is_array())
    return "has a manifest.json that does not list what blt preprocess wrote (not blt's, or from an older blt)";
  const auto& files = manifest["output_files"];
  std::set<std::string> dirs;
  for (const auto& d : manifest["output_dirs"])
    if (d.is_string()) dirs.insert(d.get<std::string>());
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    const std::string relative = it->path().lexically_relative(root).generic_string();
    const auto entry_status = it->symlink_status();
    if (fs::is_directory(entry_status) && dirs.count(relative)) continue;
    if (relative == kManifestFile) continue;
    const auto listed = files.find(relative);
    if (!fs::is_regular_file(entry_status) || listed == files.end())
      return fmt::format("holds '{}', which blt preprocess did not write", relative);
    if (!listed->is_number_unsigned() || listed->get<uint64_t>() != fs::file_size(it->path()))
      return fmt::format("holds '{}', changed since blt preprocess wrote it", relative);
  }
  *run_id = manifest["run_id"].get<std::string>();
  return "";
}

PreprocessOutput::PreprocessOutput(std::string out_dir) : out_(without_trailing_slashes(std::move(out_dir))) {
  if (out_.empty()) fail("preprocess: no output directory given");
  if (fs::exists(fs::symlink_status(out_))) {
    const std::string why = why_not_replaceable(out_, &replaced_run_);
    if (!why.empty()) fail("output directory '{}' {}; remove it or choose another --out", out_, why);
  }
  const fs::path out(out_);
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  remove_left_overs(out);
  std::random_device random;
  run_id_ = fmt::format("{}-{}-{:08x}", host_name(), ::getpid(), random());
  staging_ = out_ + ".partial-" + run_id_;
  if (::mkdir(staging_.c_str(), 0755) != 0)
    fail("cannot create the staging directory '{}': {}", staging_, std::strerror(errno));
}

PreprocessOutput::~PreprocessOutput() {
  if (published_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void PreprocessOutput::publish(nlohmann::json manifest) {
  nlohmann::json files = nlohmann::json::object(), dirs = nlohmann::json::array();
  for (auto it = fs::recursive_directory_iterator(staging_); it != fs::recursive_directory_iterator(); ++it) {
    const std::string relative = it->path().lexically_relative(staging_).generic_string();
    if (it->is_directory()) {
      dirs.push_back(relative);
      sync_directory(it->path().string());  // the shards' renames inside it
    } else if (relative != kManifestFile) {
      files[relative] = fs::file_size(it->path());
    }
  }
  manifest["written_by"] = kWrittenBy;
  manifest["run_id"] = run_id_;
  manifest["output_dirs"] = dirs;
  manifest["output_files"] = files;
  write_file_atomic((fs::path(staging_) / kManifestFile).string(), manifest.dump(2) + "\n");

  // The earlier output moves aside under this run's own name, and is checked there
  // (no other process can touch it any more) to be the one found at the start.
  std::string aside;
  if (!replaced_run_.empty()) {
    aside = out_ + ".replaced-" + run_id_;
    if (::rename(out_.c_str(), aside.c_str()) != 0) {
      if (errno == ENOENT)
        fail("output directory '{}' was moved away while this preprocess ran (by another blt preprocess into it?); "
             "this run's output is discarded",
             out_);
      fail("cannot move the earlier output '{}' aside to '{}': {}", out_, aside, std::strerror(errno));
    }
    std::string found_run;
    if (!why_not_replaceable(aside, &found_run).empty() || found_run != replaced_run_) {
      if (::rename(aside.c_str(), out_.c_str()) != 0)
        fail("output directory '{}' changed while this preprocess ran; it is now at '{}' (moving it back failed: {})",
             out_, aside, std::strerror(errno));
      fail("output directory '{}' changed while this preprocess ran (another blt preprocess published into it?); "
           "it is left as it is and this run's output is discarded",
           out_);
    }
  }
  // rename() of a directory onto a non-empty one fails: of two runs, the later one loses here.
  if (::rename(staging_.c_str(), out_.c_str()) != 0) {
    const int error = errno;
    std::error_code ec;
    if (error == ENOTEMPTY || error == EEXIST) {
      if (!aside.empty()) fs::remove_all(aside, ec);  // superseded by the other run's output
      fail("another process published '{}' while this preprocess ran; its output stands and this run's is discarded",
           out_);
    }
    if (!aside.empty() && ::rename(aside.c_str(), out_.c_str()) != 0)
      fail("cannot rename '{}' to '{}': {} (the earlier output is at '{}')", staging_, out_, std::strerror(error), aside);
    fail("cannot rename '{}' to '{}': {}", staging_, out_, std::strerror(error));
  }
  published_ = true;
  const fs::path parent = fs::path(out_).parent_path();
  sync_directory(parent.empty() ? "." : parent.string());
  if (!aside.empty()) {
    std::error_code ec;
    fs::remove_all(aside, ec);
  }
}

}  // namespace blt::data
