#include "blt/sweep/sweep_runner.h"

#include <chrono>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "blt/core/child_process.h"
#include "blt/core/error.h"
#include "blt/core/files.h"
#include "blt/core/progress.h"
#include "blt/data/tokenizer_process.h"
#include "blt/sweep/run_result.h"
#include "blt/sweep/sweep_plan.h"

namespace blt::sweep {
namespace fs = std::filesystem;

namespace {

constexpr const char* kRunConfig = "run.yaml";
constexpr const char* kRunLog = "train.log";

class SweepRunner {
 public:
  SweepRunner(const SweepConfig& sweep, const RunOptions& options) : sweep_(sweep), options_(options), files_(sweep) {}

  void go() {
    fs::create_directories(sweep_.out_dir + "/runs");
    {
      const Plan draft = make_plan(sweep_, options_.world_size);  // estimates; the configs are final
      if (draft.entropy_run) train_once("entropy model", *draft.entropy_run);
      if (draft.token_source && !fs::exists(files_.tokens)) make_token_shards(*draft.token_source);
    }
    const Plan plan = make_plan(sweep_, options_.world_size);  // thresholds and bytes per token measured now
    spdlog::info("sweep {}: {} runs\n{}", sweep_.out_dir, plan.runs.size(), format_plan(plan));
    double planned = 0, done_flops = 0;
    for (const auto& r : plan.runs) planned += r.train_flops;
    int finished = 0;
    for (std::size_t i = 0; i < plan.runs.size(); ++i) {
      const auto& run = plan.runs[i];
      if (read_result(run.dir)) {
        ++finished;
        planned -= run.train_flops;
        spdlog::info("[sweep {}/{}] {}: finished earlier, skipped", i + 1, plan.runs.size(), run.name);
        continue;
      }
      const double elapsed = seconds_since_start();
      const std::string eta = done_flops > 0 ? human_duration(elapsed / done_flops * (planned - done_flops)) : "?";
      spdlog::info("[sweep {}/{}] {}: {} steps, {:.3e} FLOPs | {} finished | sweep elapsed {} | ETA {}", i + 1,
                   plan.runs.size(), run.name, run.steps, run.train_flops, finished, human_duration(elapsed), eta);
      const auto result = train_once(run.name, run.config);
      done_flops += run.train_flops;
      ++finished;
      spdlog::info("[sweep {}/{}] {}: {:.4f} bits/byte, {:.3e} FLOPs in {}", i + 1, plan.runs.size(), run.name,
                   result.valid_bpb, result.train_flops, human_duration(result.train_seconds));
    }
    spdlog::info("sweep {}: all {} runs finished; blt sweep report writes the CSV and plots", sweep_.out_dir,
                 plan.runs.size());
  }

 private:
  // Trains one run to its end unless it finished before; returns its result.
  RunResult train_once(const std::string& name, const RunConfig& config) {
    const std::string& dir = config.train.out_dir;
    if (auto done = read_result(dir)) return *done;
    fs::create_directories(dir);
    const std::string yaml = config::to_yaml(config);
    const std::string config_path = dir + "/" + kRunConfig;
    if (fs::exists(config_path) && read_text_file(config_path) != yaml)
      spdlog::warn("{}: the sweep now gives this run another config; it resumes from its checkpoint under the new one",
                   config_path);
    write_file_atomic(config_path, yaml);
    std::string command = shell_quote(options_.program) + " train " + shell_quote(config_path);
    if (!options_.launcher.empty()) command = options_.launcher + " " + command;
    const std::string log = dir + "/" + kRunLog;
    const int status = run_child(command, log);
    if (status != 0) fail("sweep: {} failed (exit status {}); its output is in {}", name, status, log);
    const RunResult result = result_from_metrics(dir);
    write_result(dir, result);
    return result;
  }

  // The bpe runs' tokenizer and token shards, made by blt-tokenizer (next to
  // this blt): SentencePiece may not be loaded into a process with LibTorch
  // (docs/sweeps.md). Both outputs appear whole (rename), so a killed sweep
  // redoes only what is missing.
  void make_token_shards(const TokenSource& source) {
    const std::string log = sweep_.out_dir + "/tokenizer.log";
    if (!fs::exists(files_.tokenizer)) {
      spdlog::info("sweep: training the bpe tokenizer ({} ids) on {}", sweep_.tokenizer.vocab, source.train);
      data::train_tokenizer_model(source.train, sweep_.tokenizer.vocab, sweep_.tokenizer.sample_mb, files_.tokenizer, log);
    }
    spdlog::info("sweep: encoding {}{} into token shards {}", source.train,
                 source.valid.empty() ? "" : " and " + source.valid, files_.tokens);
    data::encode_token_shards(files_.tokenizer, source.train, source.valid, files_.tokens, log);
  }

  double seconds_since_start() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  const SweepConfig& sweep_;
  const RunOptions& options_;
  const SweepFiles files_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

void run_sweep(const SweepConfig& sweep, const RunOptions& options) { SweepRunner(sweep, options).go(); }

}  // namespace blt::sweep
