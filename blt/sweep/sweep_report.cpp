#include "blt/sweep/sweep_report.h"

#include <fmt/format.h>

#include "blt/core/files.h"
#include "blt/sweep/run_result.h"

namespace blt::sweep {

ReportSummary write_report_csv(const Plan& plan, const std::string& path) {
  std::string csv =
      "run,size,scheme,patching,flop_budget,parameters,steps,planned_train_flops,train_flops,"
      "inference_flops_per_byte,mean_patch,bytes_per_token,train_bytes,valid_bpb,wall_s\n";
  ReportSummary summary;
  for (const auto& r : plan.runs) {
    ++summary.runs;
    const auto result = read_result(r.dir);
    csv += fmt::format("{},{},{},{},{:.6g},{},{},{:.6e},", r.name, r.size, r.scheme, r.patching, r.budget,
                       r.parameters, r.steps, r.train_flops);
    if (!result) {
      csv += fmt::format(",{:.6e},,,,,\n", r.inference_flops_per_byte);
      continue;
    }
    ++summary.finished;
    const bool bpe = r.patching == "bpe";
    // The measured validation patch size / bytes per token, not the plan's sample.
    csv += fmt::format("{:.6e},{:.6e},{},{},{:.6e},{:.6f},{:.1f}\n", result->train_flops, r.inference_flops_per_byte,
                       bpe ? "" : fmt::format("{:.4f}", result->valid_mean_patch),
                       bpe ? fmt::format("{:.4f}", result->valid_bytes_per_token) : "", result->train_bytes,
                       result->valid_bpb, result->train_seconds);
  }
  write_file_atomic(path, csv);
  return summary;
}

}  // namespace blt::sweep
