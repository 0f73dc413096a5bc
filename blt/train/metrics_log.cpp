#include "blt/train/metrics_log.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "blt/core/error.h"
#include "blt/core/files.h"

namespace blt::train {

namespace {

// Keeps the records of steps <= `start_step`; a line that is not a JSON object
// with a step (the torn end of a killed run) goes too.
void drop_records_after(const std::string& path, int64_t start_step) {
  if (!std::filesystem::is_regular_file(path)) return;  // none yet (or a device: nothing to rewrite)
  std::istringstream in(read_text_file(path));
  std::string kept;
  int64_t dropped = 0;
  for (std::string line; std::getline(in, line);) {
    const auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (record.is_object() && record.contains("step") && record["step"].is_number_integer() &&
        record["step"].get<int64_t>() <= start_step) {
      kept += line + "\n";
    } else {
      ++dropped;
    }
  }
  if (dropped == 0) return;
  write_file_atomic(path, kept);
  spdlog::info("{}: removed {} records after step {}, where this run starts (an earlier process logged them)", path,
               dropped, start_step);
}

}  // namespace

MetricsLog::MetricsLog(const std::string& path, int64_t start_step) : path_(path) {
  if (path.empty()) return;
  drop_records_after(path, start_step);
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
