// The checkpoint directory of a run:
//
//   OUT/checkpoints/step-00000100/   one complete checkpoint per directory
//   OUT/checkpoints/latest           name of the newest complete one
//
// A checkpoint is written into step-NNNNNNNN.tmp and renamed when every file is
// in place, and `latest` is replaced atomically after that: a crash (even
// kill -9) at any moment leaves the previous checkpoint intact and `latest`
// pointing at a complete directory. Leftover .tmp directories are removed on
// the next start. Since step-N exists only once complete, a lost `latest` is
// replaced by the newest step-N (with a warning naming it).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace blt::train {

class CheckpointStore {
 public:
  explicit CheckpointStore(std::string dir);

  // Path of the checkpoint `latest` names or, without `latest`, of the newest step directory; none if neither.
  std::optional<std::string> latest() const;
  // Where files for `step` go before publish(); created empty (main process only).
  std::string begin(int64_t step) const;
  std::string staging_dir(int64_t step) const;
  // Makes the staged checkpoint the latest and keeps only the newest `keep` (main process only).
  std::string publish(int64_t step, int64_t keep) const;
  void remove_incomplete() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string final_dir(int64_t step) const;
  std::vector<std::string> published() const;  // step directory names, oldest first
  std::string dir_;
};

}  // namespace blt::train
