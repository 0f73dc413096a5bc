// `blt bench CONFIG`: the run's own training step, timed. It trains the config
// for --warmup + --steps steps exactly as `blt train` would (same model, data,
// strategy, precision), without evaluation or checkpoints, and reports the
// median step of the timed ones: bytes/s, patches/s, model TFLOP/s, MFU, peak
// memory, and where the step went by phase (train/step_timer.h). The numbers of
// docs/perf.md come from here; scripts/bench_hf.py runs it beside transformers.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/config/run_config.h"
#include "blt/core/error.h"
#include "blt/core/files.h"
#include "blt/core/progress.h"
#include "blt/core/scratch_dir.h"
#include "blt/core/torch_compat.h"
#include "blt/parallel/launch_env.h"
#include "blt/train/trainer.h"

namespace fs = std::filesystem;

namespace blt::cli {
namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int bench(const Args& args) {
  std::string path, out_dir, json_path, trace_path;
  std::vector<std::string> overrides;
  int64_t steps = 10, warmup = 3;
  ArgParser parser("bench",
                   "Time full training steps (forward, backward, optimizer) of a YAML config, as `blt train` runs "
                   "them, without evaluation or checkpoints; report the median step, bytes/s, MFU, peak memory and "
                   "the time by phase. Under torchrun / scripts/launch.sh every rank runs it (give --out).");
  parser.positional("CONFIG", "YAML config file", &path)
      .repeated("set", "override a key: --set a.b=value", &overrides)
      .option("steps", "timed steps (default 10)", &steps)
      .option("warmup", "untimed steps first (default 3)", &warmup)
      .option("out", "run directory (default: a new temporary one, removed afterwards)", &out_dir)
      .option("json", "also write the results to this file", &json_path)
      .option("trace", "after the timed steps, one more step traced (ops and CUDA kernels) to this Chrome "
              "trace file (with several ranks, rank R's to FILE.rankR); scripts/trace_summary.py sums it by "
              "kernel (LibTorch >= 2.0 with CUDA)", &trace_path);
  if (!parser.parse(args)) return 0;
  if (steps < 1) fail("--steps must be at least 1, got {}", steps);
  if (warmup < 0) fail("--warmup must be >= 0, got {}", warmup);
  if (!trace_path.empty() && !compat::kHasKernelTrace)
    fail("--trace needs a blt built against LibTorch >= 2.0 with CUDA (this one: LibTorch {})", TORCH_VERSION);
  const auto env = parallel::launch_env_from_environment();
  if (env.world_size > 1 && out_dir.empty())
    fail("bench: with {} ranks give --out DIR (the ranks must agree on the run directory)", env.world_size);
  if (env.world_size > 1 && !trace_path.empty()) trace_path += fmt::format(".rank{}", env.rank);  // one file each

  auto config = load_run_config(path, overrides);
  std::optional<ScratchDir> scratch;  // the run directory when none is given
  if (out_dir.empty()) scratch.emplace("blt-bench");
  config.train.out_dir = scratch ? scratch->path() : out_dir;
  const bool trace = !trace_path.empty();
  config.train.steps = warmup + steps + (trace ? 1 : 0);
  config.train.flop_budget = 0;
  config.train.eval_every = 0;
  config.train.checkpoint_every = 0;
  config.train.log_every = config.train.steps;
  config.data.valid.clear();

  train::TrainOptions options;
  options.time_steps = true;
  options.save_final_model = false;
  const int64_t traced_step = warmup + steps + 1;
  // From here to the first step: config, model built and initialised, optimizer state, data opened.
  const auto begun = std::chrono::steady_clock::now();
  double startup_s = 0;
  options.before_step = [&](int64_t step) {
    if (startup_s == 0) startup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - begun).count();
    if (trace && step == traced_step) compat::start_kernel_trace();
  };
  const auto outcome = train::train(config, env, options);
  if (trace) {
    compat::stop_kernel_trace(trace_path + ".tmp");
    fs::rename(trace_path + ".tmp", trace_path);
  }
  if (env.rank != 0) return 0;
  const auto& timings = outcome.step_timings;  // the traced step, if any, comes after the timed ones

  std::vector<double> step_ms, bytes, patches, flops;
  std::array<std::vector<double>, 4> phase_ms;
  std::vector<std::string> parts;  // slice names in the order the first timed step met them
  std::map<std::string, std::vector<double>> part_ms;
  nlohmann::json per_step = nlohmann::json::array();
  for (std::size_t i = static_cast<std::size_t>(warmup); i < std::min(timings.size(), static_cast<std::size_t>(warmup + steps)); ++i) {
    const auto& t = timings[i];
    step_ms.push_back(t.total_ms), bytes.push_back(t.bytes), patches.push_back(t.patches), flops.push_back(t.flops);
    nlohmann::json row = {{"total", t.total_ms}};
    for (std::size_t p = 0; p < phase_ms.size(); ++p) {
      phase_ms[p].push_back(t.phase_ms[p]);
      row[train::kPhaseNames[p]] = t.phase_ms[p];
    }
    for (const auto& [part, ms] : t.part_ms) {
      if (!part_ms.count(part)) parts.push_back(part);
      part_ms[part].push_back(ms);
      row["parts"][part] = ms;
    }
    per_step.push_back(row);
  }
  if (step_ms.empty()) fail("bench: no timed step finished");
  const double step_s = median(step_ms) / 1e3;
  const double bytes_per_s = median(bytes) / step_s, patches_per_s = median(patches) / step_s;
  const double flops_per_s = median(flops) / step_s;
  const bool cuda = outcome.device.is_cuda();
  const double peak = outcome.peak_flops;
  const double peak_gib = double(outcome.peak_memory_bytes) / (1 << 30);

  nlohmann::json result = {{"config", path},
                           {"world_size", env.world_size},
                           {"device", outcome.device.str()},
                           {"timed_steps", step_ms.size()},
                           {"step_ms_median", median(step_ms)},
                           {"step_ms_min", *std::min_element(step_ms.begin(), step_ms.end())},
                           {"step_ms_max", *std::max_element(step_ms.begin(), step_ms.end())},
                           {"bytes_per_step", median(bytes)},
                           {"bytes_per_s", bytes_per_s},
                           {"patches_per_s", patches_per_s},
                           {"model_tflops_per_s", flops_per_s / 1e12},
                           {"peak_memory_gib", peak_gib},
                           {"startup_s", startup_s}};
  if (peak > 0) result["mfu"] = flops_per_s / peak;
  result["steps_ms"] = per_step;
  fmt::print("bench {} on {} x {}: {} timed steps after {} warm-up\n", path, env.world_size, outcome.device.str(),
             step_ms.size(), warmup);
  fmt::print("  step        median {:.1f} ms (min {:.1f}, max {:.1f})\n", median(step_ms),
             result["step_ms_min"].get<double>(), result["step_ms_max"].get<double>());
  fmt::print("  throughput  {}/s, {:.0f} patches/s, {:.1f} model TFLOP/s{}\n", human_bytes(bytes_per_s),
             patches_per_s, flops_per_s / 1e12, peak > 0 ? fmt::format(", MFU {:.1f}%", 100 * flops_per_s / peak) : "");
  if (cuda) fmt::print("  memory      peak {:.1f} GiB on rank 0\n", peak_gib);
  fmt::print("  start-up    {:.1f} s before the first step (model built and initialised, optimizer state, data)\n",
             startup_s);
  fmt::print("  phase       median ms   share of the median step\n");
  for (std::size_t p = 0; p < phase_ms.size(); ++p) {
    const double ms = median(phase_ms[p]);
    result["phase_ms_median"][train::kPhaseNames[p]] = ms;
    fmt::print("  {:<10}  {:>9.1f}   {:>5.1f}%\n", train::kPhaseNames[p], ms, 100 * ms / median(step_ms));
  }
  // The model's parts, forward and backward (train/step_timer.h); a part some step lacked counts 0 there.
  fmt::print("  part                              median ms   share of the median step\n");
  result["part_ms_median"] = nlohmann::json::array();
  for (const auto& part : parts) {
    auto& values = part_ms[part];
    values.resize(step_ms.size(), 0.0);
    const double ms = median(values);
    result["part_ms_median"].push_back({{"part", part}, {"ms", ms}});
    fmt::print("  {:<32}  {:>9.2f}   {:>5.1f}%\n", part, ms, 100 * ms / median(step_ms));
  }
  if (!json_path.empty()) write_file_atomic(json_path, result.dump(2) + "\n");
  return 0;
}

}  // namespace blt::cli
