// What a finished sweep run leaves behind: RUN/result.json, written by the
// sweep from the run's metrics.jsonl once `blt train` has exited cleanly. Its
// presence is what marks a run finished.
#pragma once
#include <optional>
#include <string>

namespace blt::sweep {

struct RunResult {
  int64_t steps = 0;
  double train_flops = 0;      // the trainer's count (metrics flops_total)
  double train_bytes = 0;
  double train_seconds = 0;    // training time, resumes included, evaluation excluded
  double valid_bpb = 0;        // final validation over the whole validation set
  double valid_mean_patch = 0;  // BLT
  double valid_bytes_per_token = 0;  // token LM
};

constexpr const char* kResultFile = "result.json";

// From RUN/metrics.jsonl: the last training record and the last validation record.
RunResult result_from_metrics(const std::string& run_dir);
void write_result(const std::string& run_dir, const RunResult& result);
std::optional<RunResult> read_result(const std::string& run_dir);

}  // namespace blt::sweep
