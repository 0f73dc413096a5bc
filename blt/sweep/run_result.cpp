#include "blt/sweep/run_result.h"

#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "blt/core/error.h"
#include "blt/core/files.h"

namespace blt::sweep {

RunResult result_from_metrics(const std::string& run_dir) {
  const std::string path = run_dir + "/metrics.jsonl";
  std::istringstream in(read_text_file(path));
  RunResult r;
  bool trained = false, validated = false;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) fail("{}: malformed line: {}", path, line);
    if (j.contains("flops_total")) {
      r.steps = j.at("step").get<int64_t>();
      r.train_flops = j.at("flops_total").get<double>();
      r.train_bytes = j.at("bytes_total").get<double>();
      r.train_seconds = j.at("elapsed_s").get<double>();
      trained = true;
    }
    if (j.contains("valid_bpb")) {
      r.valid_bpb = j.at("valid_bpb").get<double>();
      r.valid_mean_patch = j.value("valid_mean_patch", 0.0);
      r.valid_bytes_per_token = j.value("valid_bytes_per_token", 0.0);
      validated = true;
    }
  }
  if (!trained || !validated) fail("{}: no training record or no final validation record", path);
  return r;
}

void write_result(const std::string& run_dir, const RunResult& r) {
  const nlohmann::json j = {{"steps", r.steps},
                            {"train_flops", r.train_flops},
                            {"train_bytes", r.train_bytes},
                            {"train_seconds", r.train_seconds},
                            {"valid_bpb", r.valid_bpb},
                            {"valid_mean_patch", r.valid_mean_patch},
                            {"valid_bytes_per_token", r.valid_bytes_per_token}};
  write_file_atomic(run_dir + "/" + kResultFile, j.dump(2) + "\n");
}

std::optional<RunResult> read_result(const std::string& run_dir) {
  const std::string path = run_dir + "/" + kResultFile;
  if (!std::filesystem::exists(path)) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(read_text_file(path));
    RunResult r;
    r.steps = j.at("steps").get<int64_t>();
    r.train_flops = j.at("train_flops").get<double>();
    r.train_bytes = j.at("train_bytes").get<double>();
    r.train_seconds = j.at("train_seconds").get<double>();
    r.valid_bpb = j.at("valid_bpb").get<double>();
    r.valid_mean_patch = j.at("valid_mean_patch").get<double>();
    r.valid_bytes_per_token = j.at("valid_bytes_per_token").get<double>();
    return r;
  } catch (const nlohmann::json::exception& e) {
    fail("{}: malformed sweep result: {}", path, e.what());
  }
}

}  // namespace blt::sweep
