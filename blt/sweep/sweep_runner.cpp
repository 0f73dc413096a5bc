#include "blt/sweep/sweep_runner.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "blt/core/error.h"
#include "blt/core/files.h"
#include "blt/core/progress.h"
#include "blt/sweep/run_result.h"
#include "blt/sweep/sweep_plan.h"

namespace blt::sweep {
namespace fs = std::filesystem;

namespace {

constexpr const char* kRunConfig = "run.yaml";
constexpr const char* kRunLog = "train.log";

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (const char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

// Runs `command` through /bin/sh with stdout and stderr appended to `log`. The
// child is killed if the sweep dies (a killed sweep leaves no training behind
// to race the next `blt sweep run`).
int run_child(const std::string& command, const std::string& log) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) fail("sweep: fork failed: {}", std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) _exit(126);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    const std::string exec_command = "exec " + command;
    execl("/bin/sh", "sh", "-c", exec_command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) fail("sweep: waitpid failed: {}", std::strerror(errno));
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

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
    const std::string program = (fs::path(options_.program).parent_path() / "blt-tokenizer").string();
    if (!fs::exists(program))
      fail("sweep: the bpe scheme needs {} (built with blt; cmake --build BUILD --target blt-tokenizer)", program);
    const std::string log = sweep_.out_dir + "/tokenizer.log";
    const std::string threads = std::to_string(std::max(1u, std::thread::hardware_concurrency()));
    if (!fs::exists(files_.tokenizer)) {
      spdlog::info("sweep: training the bpe tokenizer ({} ids) on {}", sweep_.tokenizer.vocab, source.train);
      run_tool(shell_quote(program) + " train " + shell_quote(source.train) + " --vocab " + std::to_string(sweep_.tokenizer.vocab) +
                   " --sample-mb " + std::to_string(sweep_.tokenizer.sample_mb) + " --threads " + threads + " --out " +
                   shell_quote(files_.tokenizer),
               log);
    }
    spdlog::info("sweep: encoding {}{} into token shards {}", source.train,
                 source.valid.empty() ? "" : " and " + source.valid, files_.tokens);
    run_tool(shell_quote(program) + " encode " + shell_quote(files_.tokenizer) + " --train " + shell_quote(source.train) +
                 (source.valid.empty() ? "" : " --valid " + shell_quote(source.valid)) + " --threads " + threads +
                 " --out " + shell_quote(files_.tokens),
             log);
  }

  static void run_tool(const std::string& command, const std::string& log) {
    const int status = run_child(command, log);
    if (status != 0) fail("sweep: blt-tokenizer failed (exit status {}); its output is in {}", status, log);
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
