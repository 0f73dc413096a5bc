#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <spdlog/spdlog.h>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/core/child_process.h"
#include "blt/core/error.h"
#include "blt/sweep/sweep_config.h"
#include "blt/sweep/sweep_plan.h"
#include "blt/sweep/sweep_report.h"
#include "blt/sweep/sweep_runner.h"

namespace blt::cli {
namespace fs = std::filesystem;

namespace {

struct SweepArgs {
  std::string path;
  std::vector<std::string> overrides;
  int64_t world_size = 1;
};

void common_options(ArgParser& parser, SweepArgs& a) {
  parser.positional("SWEEP", "sweep file (configs/sweeps/*.yaml)", &a.path)
      .repeated("set", "override a key of the sweep file: --set flop_budgets=[1e12]", &a.overrides)
      .option("world-size", "processes per run (what --launcher starts); the global batch is divided over them",
              &a.world_size);
}

sweep::SweepConfig load(const SweepArgs& a) {
  if (a.world_size < 1) fail("blt sweep: --world-size must be >= 1, got {}", a.world_size);
  return sweep::load_sweep_config(a.path, a.overrides);
}

// scripts/plot_sweep.py of the source tree this blt was built from, or of the working directory.
std::string plot_script() {
  const fs::path exe = this_program();
  for (const fs::path& p : {fs::path("scripts/plot_sweep.py"), exe.parent_path() / "../../scripts/plot_sweep.py"})
    if (fs::exists(p)) return fs::absolute(p).lexically_normal().string();
  return "";
}

}  // namespace

int sweep_plan(const Args& args) {
  SweepArgs a;
  ArgParser parser("sweep plan",
                   "Every run of a sweep with its derived shape, parameters, patch size or bytes per token, steps,\n"
                   "training bytes and FLOPs, and inference FLOPs per byte (docs/sweeps.md). Trains nothing.");
  common_options(parser, a);
  if (!parser.parse(args)) return 0;
  const auto plan = sweep::make_plan(load(a), static_cast<int>(a.world_size));
  std::cout << sweep::format_plan(plan);
  return 0;
}

int sweep_run(const Args& args) {
  SweepArgs a;
  sweep::RunOptions o;
  ArgParser parser("sweep run",
                   "Train every run of a sweep, one after another (entropy model and tokenizer first). Finished\n"
                   "runs are skipped, unfinished ones resume: run the same command again after a crash or kill.");
  common_options(parser, a);
  parser.option("launcher", "command prefix for each run, e.g. \"scripts/launch.sh --nproc-per-node 2 --\"",
                &o.launcher);
  if (!parser.parse(args)) return 0;
  o.program = this_program();
  o.world_size = static_cast<int>(a.world_size);
  sweep::run_sweep(load(a), o);
  return 0;
}

int sweep_report(const Args& args) {
  SweepArgs a;
  bool no_plots = false;
  ArgParser parser("sweep report",
                   "OUT/sweep.csv (one row per run: scheme, parameters, training FLOPs, inference FLOPs per byte,\n"
                   "mean patch, bytes per token, validation bits/byte, wall time), then the plots OUT/*.png\n"
                   "(scripts/plot_sweep.py: python3 with matplotlib; without them the CSV is still written and\n"
                   "the command fails saying so, unless --no-plots).");
  common_options(parser, a);
  parser.flag("no-plots", "write the CSV only", &no_plots);
  if (!parser.parse(args)) return 0;
  const auto config = load(a);
  const auto plan = sweep::make_plan(config, static_cast<int>(a.world_size));
  const std::string csv = config.out_dir + "/sweep.csv";
  const auto summary = sweep::write_report_csv(plan, csv);
  spdlog::info("{}: {} of {} runs finished", csv, summary.finished, summary.runs);
  if (no_plots) return 0;
  const std::string script = plot_script();
  if (script.empty())
    fail("blt sweep report: {} is written, but no plots: scripts/plot_sweep.py not found (run from the source tree, "
         "or pass --no-plots)",
         csv);
  // The script says itself what is missing (python3-matplotlib); its exit status says whether it drew.
  const std::string command = "python3 '" + script + "' '" + csv + "' '" + config.out_dir + "'";
  const int status = std::system(command.c_str());
  if (status != 0)
    fail("blt sweep report: {} is written, but the plots failed ({} exited with status {}): they need python3 with "
         "matplotlib (Debian: apt-get install python3-matplotlib); to draw them with another python: PYTHON '{}' '{}' '{}'",
         csv, command, WIFEXITED(status) ? WEXITSTATUS(status) : -1, script, csv, config.out_dir);
  return 0;
}

}  // namespace blt::cli
