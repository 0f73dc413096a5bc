// `blt sweep report`: one CSV row per run of the plan, from the plan (shapes,
// planned FLOPs) and the run's result.json (what the trainer counted and the
// final validation). Unfinished runs have empty result columns.
#pragma once
#include <string>

#include "blt/sweep/sweep_plan.h"

namespace blt::sweep {

struct ReportSummary {
  int runs = 0;
  int finished = 0;
};

// Writes the CSV to `path` (through a temporary file).
ReportSummary write_report_csv(const Plan& plan, const std::string& path);

}  // namespace blt::sweep
