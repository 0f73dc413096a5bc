// metrics.jsonl: one JSON object per logged step (and per evaluation), appended
// and flushed as it happens so that a crash loses nothing already reported.
#pragma once
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace blt::train {

class MetricsLog {
 public:
  // An empty path makes a log that writes nothing (non-main ranks).
  explicit MetricsLog(const std::string& path);
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
