// metrics.jsonl: one JSON object per logged step (and per evaluation), appended
// and flushed as it happens so that a crash loses nothing already reported.
// The file describes the run whose state is in the directory: a run that starts
// at step S (0, or a checkpoint's step on resume) first drops the records of
// later steps, which the previous process logged after its last checkpoint and
// which this one logs again.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace blt::train {

class MetricsLog {
 public:
  // An empty path makes a log that writes nothing (non-main ranks). Records of
  // steps after `start_step` (and a torn last line) are removed first, through
  // a temporary file and a rename.
  MetricsLog(const std::string& path, int64_t start_step);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  // Fails naming the file and the reason when the record cannot be written (a full disk).
  void write(const nlohmann::json& record);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace blt::train
