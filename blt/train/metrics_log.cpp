#include "blt/train/metrics_log.h"

#include <cerrno>
#include <cstring>

#include "blt/core/error.h"

namespace blt::train {

MetricsLog::MetricsLog(const std::string& path) : path_(path) {
  if (path.empty()) return;
  file_ = std::fopen(path.c_str(), "a");
  if (!file_) fail("cannot open metrics log '{}': {}", path, std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::write(const nlohmann::json& record) {
  if (!file_) return;
  const std::string line = record.dump() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    fail("writing metrics log '{}' failed: {}", path_, std::strerror(errno));
}

}  // namespace blt::train
