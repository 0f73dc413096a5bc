// Several `blt train` processes over Gloo (scripts/launch.sh), one test case per
// dist.strategy: 2 and 3 ranks train the tiny BLT with the global batch of one
// process (6 sequences) to the same per-step losses and final parameters; a
// checkpoint saved by 2 ranks resumes under 3 ranks and under 1 rank of another
// strategy and continues with the losses of the uninterrupted run. And a rank killed with SIGKILL (or hung:
// SIGSTOP) brings the other rank and the launcher down with an error within
// dist.timeout_s.
#include <chrono>

#include "train_test_util.h"

using blt::test::config_file;
using blt::test::RunResult;
using blt::test::TempDir;
namespace fs = std::filesystem;

namespace {

// The runs train in float64 (train.precision fp64), so that one process and N
// ranks differ only by float64 rounding of sums taken in another order. Bound:
// a gradient element sums n <= 6 x 64 x (layers + 1) < 1e4 products; reordering
// changes it by at most n u sum|terms|, u = 1.1e-16: a relative 1e-12 of its
// magnitude. AdamW's step lr m / (sqrt(v) + eps) is scale-invariant in g for
// |g| >> eps and moves by at most lr |dg| / eps below; for the smallest gradients
// that reach a parameter (|g| ~ eps = 1e-8, a hash row hit once), lr 3e-3 x 1e-12
// = 3e-15 per step. Four steps through a network whose updates feed back
// (a few orders of magnitude of growth at most) stay far below 1e-10; a real
// difference in what the ranks compute (a dropped micro-batch, a wrong scale, a
// missed reduction) moves parameters by ~lr = 3e-3 and losses by > 1e-4.
// (In float32 the same reordering gives ~1e-7 relative, which AdamW amplified to
// 2e-4 on some machines: tolerances there depended on the BLAS and threads.)
constexpr double kLossRelTolerance = 1e-12;
constexpr double kParamAbsTolerance = 1e-10;
constexpr int kGlobalBatch = 6;

// Trains `config` with `ranks` processes, each step of the global batch in
// `grad_accum` micro-batches; every process single-threaded so that 3 ranks do
// not fight over 2 cores.
RunResult train(const std::string& config, int ranks, int grad_accum, int port, const std::string& sets) {
  const std::string command = "OMP_NUM_THREADS=1 bash " + blt::test::source_path("scripts/launch.sh") +
                              " --nproc-per-node " + std::to_string(ranks) + " --master-port " + std::to_string(port) +
                              " -- " + BLT_BINARY + " train " + config + " --set data.batch_size=" +
                              std::to_string(kGlobalBatch / (ranks * grad_accum)) +
                              " --set train.grad_accum=" + std::to_string(grad_accum) + " " + sets;
  return blt::test::run_shell(command);
}

std::map<int64_t, double> step_losses(const std::string& run_dir) {
  std::map<int64_t, double> out;
  for (const auto& [step, values] : blt::test::losses(run_dir + "/metrics.jsonl")) out[step] = std::stod(values.back());
  return out;
}

// Largest relative difference of `got` from `want` over the steps of `got`, all of which `want` must have.
double max_rel_loss_diff(const std::map<int64_t, double>& want, const std::map<int64_t, double>& got) {
  double worst = 0;
  for (const auto& [step, loss] : got) {
    REQUIRE(want.count(step) == 1);
    worst = std::max(worst, std::abs(loss - want.at(step)) / std::abs(want.at(step)));
  }
  return worst;
}

// Copies checkpoint step-N of `from` into a fresh run directory `to`, as its latest.
void seed_checkpoint(const std::string& from, const std::string& to, const std::string& step_dir) {
  fs::create_directories(to + "/checkpoints");
  fs::copy(from + "/checkpoints/" + step_dir, to + "/checkpoints/" + step_dir, fs::copy_options::recursive);
  blt::test::write_file(to + "/checkpoints/latest", step_dir + "\n");
}

// Shell lines that wait (at most a minute) until rank 0 of the run in `out_dir` has logged a step.
std::string wait_for_first_step(const std::string& out_dir) {
  return "for i in $(seq 600); do [ -s " + out_dir + "/metrics.jsonl ] && break; sleep 0.1; done\n";
}

// `strategy` at 1, 2 and 3 ranks (3 x 2 micro-batches of 1 sequence); its 2-rank
// checkpoint resumed by 3 ranks of `strategy` and by 1 rank of `other`
// (checkpoints do not depend on the strategy). `sets`: more --set arguments for every run.
void check_strategy(const std::string& strategy, const std::string& other, int port, const std::string& sets = "") {
  TempDir dir;
  blt::test::write_corpus(dir / "corpus");
  const auto config = config_file(dir, "run", "tiny",
                                  "  steps: 4\n  checkpoint_every: 2\n  keep_checkpoints: 2\n  precision: fp64\n");
  const auto run = [&](const std::string& name, int ranks, int grad_accum, int port_offset,
                       const std::string& run_strategy) {
    const auto r = train(config, ranks, grad_accum, port + port_offset,
                         "--set dist.strategy=" + run_strategy + " --set dist.timeout_s=60 --set train.out_dir=" +
                             (dir / ("runs/" + name)) + " " + sets);
    INFO(name << ":\n" << r.output);
    REQUIRE(r.exit_code == 0);
    return dir / ("runs/" + name);
  };
  const auto single = run("single", 1, 1, 0, strategy);
  const auto reference = step_losses(single);
  REQUIRE(reference.size() == 4);
  for (const int ranks : {2, 3}) {
    const int grad_accum = ranks == 3 ? 2 : 1;
    const auto multi = run("ranks" + std::to_string(ranks), ranks, grad_accum, ranks, strategy);
    const double loss_diff = max_rel_loss_diff(reference, step_losses(multi));
    const double param_diff = blt::test::max_param_diff(single, multi);
    std::printf("[dist] %s, %d ranks x %d micro-batches vs 1 process: max rel loss diff %.3g, max abs param diff %.3g\n",
                strategy.c_str(), ranks, grad_accum, loss_diff, param_diff);
    CHECK(step_losses(multi).size() == 4);
    CHECK(loss_diff <= kLossRelTolerance);
    CHECK(param_diff <= kParamAbsTolerance);
  }
  // The last 2-rank checkpoint, consolidated, is the final model; blt eval reads it as it is.
  const std::string last = dir / "runs/ranks2/checkpoints/step-00000004";
  const auto exported = blt::test::run_blt("export " + last + " " + (dir / "exported/model"));
  INFO(exported.output);
  REQUIRE(exported.exit_code == 0);
  CHECK(blt::test::max_param_diff(dir / "runs/ranks2", dir / "exported") == 0);
  const auto eval = blt::test::run_blt("eval " + last + " --data " + (dir / "corpus/valid") + " --seq-len 64 --device cpu");
  INFO(eval.output);
  CHECK(eval.exit_code == 0);
  CHECK_THAT(eval.output, Catch::Matchers::Contains("bits/byte"));

  // Resharding: the 2-rank checkpoint of step 2 continues under 1 and 3 ranks.
  const auto uninterrupted = step_losses(dir / "runs/ranks2");
  for (const int ranks : {1, 3}) {
    const std::string name = "resume" + std::to_string(ranks), resume_strategy = ranks == 1 ? other : strategy;
    seed_checkpoint(dir / "runs/ranks2", dir / ("runs/" + name), "step-00000002");
    const auto resumed = run(name, ranks, 1, 4 + ranks, resume_strategy);
    const auto losses = step_losses(resumed);
    REQUIRE(losses.size() == 2);  // steps 3 and 4
    CHECK(losses.count(3) == 1);
    const double loss_diff = max_rel_loss_diff(uninterrupted, losses);
    const double param_diff = blt::test::max_param_diff(dir / "runs/ranks2", resumed);
    std::printf("[dist] %s, 2-rank checkpoint resumed by %d of %s: max rel loss diff %.3g, max abs param diff %.3g\n",
                strategy.c_str(), ranks, resume_strategy.c_str(), loss_diff, param_diff);
    CHECK(loss_diff <= kLossRelTolerance);
    CHECK(param_diff <= kParamAbsTolerance);
  }
}

}  // namespace

TEST_CASE("dist train: ddp over 2 and 3 ranks matches 1 process and its checkpoints reshard", "[dist][gloo][e2e]") {
  check_strategy("ddp", "fsdp", 29720);
}

TEST_CASE("dist train: zero2 over 2 and 3 ranks matches 1 process and its checkpoints reshard", "[dist][gloo][e2e]") {
  check_strategy("zero2", "ddp", 29730);
}

TEST_CASE("dist train: fsdp over 2 and 3 ranks matches 1 process and its checkpoints reshard", "[dist][gloo][e2e]") {
  check_strategy("fsdp", "zero2", 29740);
}

// The ranks exchange the hash-table rows they looked up (parallel/grad_sync.cpp), and lazy AdamW updates the
// union of them: the same rows, summed in another order, as one process's.
TEST_CASE("dist train: ddp with row-sparse hash tables over 2 and 3 ranks matches 1 process", "[dist][gloo][e2e]") {
  check_strategy("ddp", "ddp", 29760, "--set train.optimizer.sparse_hash_rows=true");
}

// Under zero2 and fsdp the table leaves the sharded units and takes ddp's row path (parallel/hash_rows.h);
// their checkpoints, which hold the table as every rank's share of it, resume under ddp and zero2.
TEST_CASE("dist train: zero2 and fsdp with row-sparse hash tables over 2 and 3 ranks match 1 process",
          "[dist][gloo][e2e]") {
  check_strategy("zero2", "ddp", 29770, "--set train.optimizer.sparse_hash_rows=true");
  check_strategy("fsdp", "zero2", 29780, "--set train.optimizer.sparse_hash_rows=true");
}

TEST_CASE("dist train: a rank killed or hung takes the other rank and the launcher down", "[dist][gloo][e2e]") {
  TempDir dir;
  blt::test::write_corpus(dir / "corpus");
  const auto config = config_file(dir, "run", "tiny",
                                  "  steps: 100000\n  checkpoint_every: 0\ndist: {strategy: ddp, timeout_s: 10}\n");
  const std::string blt = BLT_BINARY;
  // A rank is killed (0 also hosts the rendezvous store) or stopped (a hung
  // peer, found by dist.timeout_s alone) once rank 0 has logged a step; the
  // script prints each rank's exit status and the milliseconds from the signal
  // until the other rank has exited.
  struct Fault {
    const char* signal;
    int rank;
    int timeout_s;
    int port;
  };
  for (const Fault fault : {Fault{"KILL", 0, 10, 29752}, Fault{"KILL", 1, 10, 29753}, Fault{"STOP", 1, 3, 29754}}) {
    const std::string name = std::string(fault.signal) + std::to_string(fault.rank);
    const std::string script = dir / (name + ".sh");
    const std::string run = blt + " train " + config + " --set dist.timeout_s=" + std::to_string(fault.timeout_s) +
                            " --set train.out_dir=$out > /dev/null 2>&1";
    const std::string victim = "$p" + std::to_string(fault.rank), survivor = "$p" + std::to_string(1 - fault.rank);
    blt::test::write_file(script, "export OMP_NUM_THREADS=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
                                      std::to_string(fault.port) +
                                      "\nout=" + (dir / ("runs/" + name)) + "\nRANK=0 " + run + " & p0=$!\nRANK=1 " +
                                      run + " & p1=$!\n" + wait_for_first_step("$out") +
                                      "start=$(date +%s%N); kill -" + fault.signal + " " + victim + "\n"
                                      "wait " + survivor + "; status=$?; ms=$(( ($(date +%s%N) - start) / 1000000 ))\n"
                                      "kill -9 " + victim + "; wait " + victim + "\n"
                                      "echo \"status $status ms $ms\"\n");
    const auto r = blt::test::run_shell("bash " + script);
    INFO(r.output);
    int status = 0;
    long ms = 0;
    const auto line = r.output.find("status ");  // after bash's report of the killed job
    REQUIRE(line != std::string::npos);
    REQUIRE(std::sscanf(r.output.c_str() + line, "status %d ms %ld", &status, &ms) == 2);
    std::printf("[dist] SIG%s to rank %d (timeout %d s): rank %d exited with %d after %ld ms\n", fault.signal,
                fault.rank, fault.timeout_s, 1 - fault.rank, status, ms);
    CHECK(status != 0);
    CHECK(ms < 1000 * (fault.timeout_s + 10));  // the timeout plus slack for a loaded machine
  }

  // Under the launcher, rank 1's wrapper kills its own blt the same way.
  const std::string launched = dir / "launched.sh";
  const std::string out = dir / "runs/launched";
  blt::test::write_file(launched, "cmd=\"" + blt + " train " + config + " --set train.out_dir=" + out + "\"\n"
                                  "[ \"$RANK\" = 1 ] || exec $cmd\n"
                                  "$cmd & pid=$!\n" + wait_for_first_step(out) + "kill -9 $pid; wait $pid\n");
  const auto start = std::chrono::steady_clock::now();
  const auto l = blt::test::run_shell("OMP_NUM_THREADS=1 bash " + blt::test::source_path("scripts/launch.sh") +
                                      " --nproc-per-node 2 --master-port 29751 -- bash " + launched);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(l.output);
  CHECK(l.exit_code != 0);
  CHECK_THAT(l.output, Catch::Matchers::Contains("stopping the others"));
  CHECK(seconds < 60);
}
