// What `blt train` and `blt eval` refuse so that a run's directory never holds
// mixed or garbage state: a lost `latest` pointer, a second run into the same
// out_dir, non-finite losses and weights, ranks with different configs, a bad
// validation set found only after training; and the records and words a run
// leaves (one metrics record per step after a resume, "above"/"below" the
// unigram entropy).
#include <torch/torch.h>

#include <limits>

#include "blt/core/safetensors.h"
#include "blt/parallel/param_update.h"
#include "model_test_util.h"
#include "train_test_util.h"

using blt::test::config_file;
using blt::test::losses;
using blt::test::run_blt;
using blt::test::run_shell;
using blt::test::TempDir;
using blt::test::write_corpus;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// Every step from 1 to `last` has exactly one loss record.
void check_one_record_per_step(const std::string& metrics, int64_t last) {
  const auto l = losses(metrics);
  CHECK(static_cast<int64_t>(l.size()) == last);
  for (const auto& [step, values] : l) {
    CAPTURE(step);
    CHECK(values.size() == 1);
  }
}

// Names of the checkpoint directories under `run`, sorted.
std::vector<std::string> checkpoint_names(const std::string& run) {
  std::vector<std::string> names;
  if (!fs::is_directory(run + "/checkpoints")) return names;
  for (const auto& e : fs::directory_iterator(run + "/checkpoints")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("train safety: without checkpoints/latest the newest complete step is resumed", "[train][resume][e2e][trust-run]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const auto cfg = config_file(dir, "run", "tiny", "  steps: 4\n");
  REQUIRE(run_blt("train " + cfg).exit_code == 0);
  const auto run = dir / "runs/run";
  REQUIRE(fs::exists(run + "/checkpoints/step-00000004"));
  fs::remove(run + "/checkpoints/latest");
  const auto r = run_blt("train " + cfg + " --set train.steps=6");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("latest is missing; taking step-00000004"));
  CHECK_THAT(r.output, Contains("resumed from") && Contains("at step 4"));
  check_one_record_per_step(run + "/metrics.jsonl", 6);
}

TEST_CASE("train safety: a second run into the same out_dir is refused, a killed one's lock is not", "[train][e2e][trust-run]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const auto cfg = config_file(dir, "run", "tiny", "  steps: 100000\n") + " --set train.checkpoint_every=0";
  const std::string run = dir / "runs/run", blt = BLT_BINARY;
  // The first run holds the directory once it has logged a step; a second one
  // (one process, then two ranks) must fail naming it; after kill -9 of the
  // first, a third one runs.
  const std::string script = dir / "second.sh";
  blt::test::write_file(
      script, "export OMP_NUM_THREADS=1\n" + blt + " train " + cfg + " > " + (dir / "first.log") + " 2>&1 & first=$!\n" +
                  "for i in $(seq 600); do [ -s " + run + "/metrics.jsonl ] && break; sleep 0.1; done\n" +
                  "echo \"first pid $first\"\n" + blt + " train " + cfg + "; echo \"second status $?\"\n" + "bash " +
                  blt::test::source_path("scripts/launch.sh") + " --nproc-per-node 2 --master-port 29801 -- " + blt +
                  " train " + cfg + "; echo \"ranks status $?\"\n" + "kill -9 $first; wait $first\n" + blt +
                  " train " + cfg + " --set train.steps=1; echo \"third status $?\"\n");
  const auto r = run_shell("bash " + script);
  INFO(r.output);
  const auto pid_at = r.output.find("first pid ");
  REQUIRE(pid_at != std::string::npos);
  const std::string pid = r.output.substr(pid_at + 10, r.output.find('\n', pid_at) - pid_at - 10);
  CHECK_THAT(r.output, Contains("second status 1") && Contains("third status 0"));
  CHECK_THAT(r.output, Contains("the run directory '" + run + "' is in use by another blt train (pid " + pid + " on "));
  CHECK_FALSE(r.output.find("ranks status 0") != std::string::npos);
  CHECK_THAT(r.output, Contains("rank 0: the run directory '" + run + "' is in use"));  // what rank 1 says
  CHECK_THAT(blt::test::read_file(run + "/.lock"), !Contains("pid " + pid + " "));  // the third run's now
}

TEST_CASE("train safety: a non-finite loss stops the run before a non-finite state is saved", "[train][e2e][trust-run]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  // lr 1e30: step 1's AdamW moves every trained weight by ~1e30 (finite in
  // float32); step 2's loss is NaN (seen: "step 2: the training loss is nan").
  // 1e38 would not do: AdamW's step size itself overflows float32.
  const auto cfg = config_file(dir, "run", "tiny", "  steps: 6\n");
  const auto r = run_blt("train " + cfg +
                         " --set train.checkpoint_every=1 --set train.optimizer.lr=1.0e30 --set train.optimizer.warmup_steps=0");
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.output, Contains("not finite") && Contains("update and every later one were skipped"));
  const auto run = dir / "runs/run";
  CHECK_FALSE(fs::exists(run + "/model"));
  // Whatever was saved before the stop holds finite numbers only.
  for (const auto& name : checkpoint_names(run)) {
    if (name == "latest") continue;
    for (const auto& e : fs::directory_iterator(run + "/checkpoints/" + name)) {
      if (e.path().extension() != ".safetensors") continue;
      const blt::safetensors::Reader reader(e.path().string());
      for (const auto& t : reader.tensors()) {
        CAPTURE(e.path().string(), t.name);
        CHECK(torch::isfinite(reader.load(t.name)).all().item<bool>());
      }
    }
  }
}

TEST_CASE("train safety: a non-finite gradient halts every later update, in every strategy", "[train][param-path][trust-run]") {
  const auto config = blt::test::load_model_preset("tiny");
  blt::train::OptimizerConfig opt;
  opt.lr = 1e-2;
  blt::parallel::Comm comm;
  torch::Generator gen = at::detail::createCPUGenerator(7);
  const blt::model::ModelInput input{blt::test::random_tokens(2, 32, gen), torch::Tensor()};
  for (const std::string strategy : {"ddp", "zero2", "fsdp"}) {
    CAPTURE(strategy);
    torch::manual_seed(1);
    auto model = blt::model::build_model(config);
    auto update = blt::parallel::make_param_update(blt::parallel::DistConfig{strategy}, *model, comm, opt);
    const auto train_step = [&](double scale) {
      (model->forward(input).pow(2).mean() * scale).backward();
      return update->step(opt.lr, /*max_norm=*/1.0);
    };
    CHECK(std::isfinite(train_step(1.0).item<double>()));
    CHECK(update->first_nonfinite_step() == 0);
    std::map<std::string, torch::Tensor> before;
    update->with_whole_params([&] {
      for (const auto& item : model->named_parameters()) before[item.key()] = item.value().detach().clone();
    });
    // Step 2's gradient is NaN everywhere; step 3's is finite again, but the run must stop at step 2's state.
    CHECK(std::isnan(train_step(std::numeric_limits<double>::quiet_NaN()).item<double>()));
    CHECK(std::isfinite(train_step(1.0).item<double>()));
    CHECK(update->first_nonfinite_step() == 2);
    update->with_whole_params([&] {
      for (const auto& item : model->named_parameters()) {
        CAPTURE(item.key());
        CHECK(torch::equal(item.value(), before[item.key()]));  // bit for bit: no update ran
      }
    });
  }
}

TEST_CASE("train safety: blt eval of a model with NaN weights is an error", "[train][e2e][trust-run]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const auto cfg = config_file(dir, "run", "tiny", "  steps: 1\n");
  REQUIRE(run_blt("train " + cfg).exit_code == 0);
  const std::string weights = dir / "runs/run/model/model.safetensors";
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  {
    const blt::safetensors::Reader reader(weights);
    for (const auto& t : reader.tensors()) tensors.emplace_back(t.name, reader.load(t.name));
  }
  tensors[0].second.fill_(NAN);
  blt::safetensors::write(weights, tensors);
  const auto r = run_blt("eval " + (dir / "runs/run/model") + " --data " + (dir / "corpus/valid") +
                         " --seq-len 64 --batch-size 4 --device cpu");
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.output, Contains("non-finite loss"));
}

TEST_CASE("train safety: ranks started with different configs fail naming the keys and ranks", "[dist][gloo][e2e][trust-run]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const auto cfg = config_file(dir, "run", "tiny", "  steps: 2\ndist: {timeout_s: 20}\n");
  // Rank 1 gets another learning rate and sequence length.
  const std::string rank_script = dir / "rank.sh";
  blt::test::write_file(rank_script, std::string("exec ") + BLT_BINARY + " train " + cfg +
                                         " --set train.optimizer.lr=$([ \"$RANK\" = 1 ] && echo 1.0e-3 || echo 3.0e-3)"
                                         " --set data.seq_len=$((64 + 16 * RANK))\n");
  const auto r = run_shell("OMP_NUM_THREADS=1 bash " + blt::test::source_path("scripts/launch.sh") +
                           " --nproc-per-node 2 --master-port 29802 -- bash " + rank_script);
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.output, Contains("different configs"));
  CHECK_THAT(r.output, Contains("data.seq_len: 64 on rank 0, 80 on rank 1"));
  CHECK_THAT(r.output, Contains("train.optimizer.lr: 0.003 on rank 0, 0.001 on rank 1"));
  CHECK_THAT(r.output, !Contains("train.steps:"));  // equal keys are not listed
  CHECK_FALSE(fs::exists(dir / "runs/run/metrics.jsonl"));
}

TEST_CASE("train safety: a bad data.valid stops the run before the first step", "[train][e2e][trust-run]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  blt::test::write_file(dir / "bad-valid/shard-00000.bltshard", "not a shard");
  const auto cfg = config_file(dir, "run", "tiny", "  steps: 2\n");
  const auto r = run_blt("train " + cfg + " --set data.valid=" + (dir / "bad-valid"));
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.output, Contains("shard-00000.bltshard"));
  CHECK_THAT(r.output, !Contains("step 1/"));
  CHECK(checkpoint_names(dir / "runs/run").empty());
  CHECK_FALSE(fs::exists(dir / "runs/run/model"));
}

TEST_CASE("train safety: after a resume metrics.jsonl holds one record per step", "[train][resume][e2e][trust-run]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const auto cfg = config_file(dir, "run", "tiny", "  steps: 4\n");
  // Killed while checkpoint 4 is written: steps 3 and 4 are logged, the resume repeats them.
  CHECK(run_blt("train " + cfg, "BLT_FAULT_KILL_IN_CHECKPOINT=4").exit_code != 0);
  blt::test::write_file(dir / "runs/run/metrics.jsonl", blt::test::read_file(dir / "runs/run/metrics.jsonl") + "{\"st");
  const auto r = run_blt("train " + cfg);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("at step 2"));
  check_one_record_per_step(dir / "runs/run/metrics.jsonl", 4);
}

TEST_CASE("train safety: the final line says above or below the unigram entropy", "[train][e2e][trust-run]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  // One step from random weights: ~8 bits/byte, above the text's ~4 bits/byte unigram entropy.
  const auto cfg = config_file(dir, "run", "tiny", "  steps: 1\n");
  const auto r = run_blt("train " + cfg);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("% above the byte-unigram entropy") && !Contains("% below"));
}
