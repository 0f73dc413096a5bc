// End-to-end training through the `blt` program: learning, exact resume after a
// crash, refusal of mismatched checkpoints, the entropy-model -> BLT pipeline.
// Several processes: tests/test_dist_train.cpp.
#include "train_test_util.h"

using blt::test::config_file;
using blt::test::losses;
using blt::test::run_blt;
using blt::test::TempDir;
using blt::test::write_corpus;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

TEST_CASE("train: a tiny byte LM learns and leaves a complete run directory", "[train][e2e]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const auto cfg = config_file(dir, "lm", "entropy-tiny", "  steps: 40\n  checkpoint_every: 20\n");
  const auto r = run_blt("train " + cfg);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto run = dir / "runs/lm";
  for (const char* f : {"config.yaml", "metrics.jsonl", "model/config.yaml", "model/model.safetensors",
                        "checkpoints/latest", "logs/rank0.log"})
    CHECK(fs::exists(run + "/" + f));
  const auto l = losses(run + "/metrics.jsonl");
  REQUIRE(l.size() == 40);
  const double first = std::stod(l.at(1)[0]), last = std::stod(l.at(40)[0]);
  CHECK(last < 0.6 * first);
  CHECK_THAT(r.output, Contains("validation") && Contains("bits/byte"));
  // The trained model evaluates through `blt eval` to the same figure the trainer printed.
  const auto ev = run_blt("eval " + run + "/model --data " + (dir / "corpus/valid") + " --seq-len 64 --batch-size 4 --device cpu");
  INFO(ev.output);
  CHECK(ev.exit_code == 0);
  CHECK_THAT(ev.output, Contains("bits/byte"));
}

TEST_CASE("train: a run killed during a checkpoint resumes to bit-identical losses", "[train][resume][e2e]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const auto whole = config_file(dir, "whole", "entropy-tiny", "  steps: 8\n");
  REQUIRE(run_blt("train " + whole).exit_code == 0);
  const auto reference = losses(dir / "runs/whole/metrics.jsonl");

  const auto broken = config_file(dir, "broken", "entropy-tiny", "  steps: 8\n");
  // SIGKILL while checkpoint 6 is half-written: checkpoints 2 and 4 are complete.
  const auto killed = run_blt("train " + broken, "BLT_FAULT_KILL_IN_CHECKPOINT=6");
  CHECK(killed.exit_code != 0);
  CHECK(fs::exists(dir / "runs/broken/checkpoints/step-00000006.tmp"));
  CHECK(blt::test::read_file(dir / "runs/broken/checkpoints/latest") == "step-00000004\n");
  // The same command again resumes from step 4 and finishes.
  const auto resumed = run_blt("train " + broken);
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK_THAT(resumed.output, Contains("resumed from") && Contains("at step 4"));
  CHECK_FALSE(fs::exists(dir / "runs/broken/checkpoints/step-00000006.tmp"));
  // Steps 5 and 6 ran twice (before the crash and after the resume); the
  // resume dropped the first records of them, and every record matches.
  const auto again = losses(dir / "runs/broken/metrics.jsonl");
  REQUIRE(again.size() == reference.size());
  for (const auto& [step, values] : again) {
    CAPTURE(step);
    REQUIRE(values.size() == 1);
    CHECK(values[0] == reference.at(step)[0]);
  }
}

namespace {

// The tiny BLT trained 6 steps with `sets` learns; the same run killed in its step-4 checkpoint
// and started again resumes there and gives every step's loss bit for bit.
void check_tiny_resume(const TempDir& dir, const std::string& sets) {
  const auto w = run_blt("train " + config_file(dir, "whole", "tiny", "  steps: 6\n") + sets);
  INFO(w.output);
  REQUIRE(w.exit_code == 0);
  const auto reference = losses(dir / "runs/whole/metrics.jsonl");
  CHECK(std::stod(reference.at(6)[0]) < std::stod(reference.at(1)[0]));
  const auto broken = config_file(dir, "broken", "tiny", "  steps: 6\n");
  CHECK(run_blt("train " + broken + sets, "BLT_FAULT_KILL_IN_CHECKPOINT=4").exit_code != 0);
  const auto resumed = run_blt("train " + broken + sets);
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  const auto again = losses(dir / "runs/broken/metrics.jsonl");
  REQUIRE(again.size() == reference.size());
  for (const auto& [step, values] : again) {
    CAPTURE(step);
    CHECK(values.back() == reference.at(step)[0]);
  }
}

}  // namespace

TEST_CASE("train: sparse hash-table rows give dense AdamW's run and resume bit-identically", "[train][resume][e2e]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const std::string sparse = " --set train.optimizer.sparse_hash_rows=true";
  // Dense and row-sparse updates of the same float64 run: the hash rows a step did not use catch
  // up the steps they missed before their next lookup, and every row before the final model is
  // saved and evaluated (no checkpoint in between to catch them up). The runs then differ only
  // by the order in which a row's gradient contributions are summed (the dense table's
  // scatter-add against the sparse gradient's coalescing): float64 rounding, which stays below
  // 1e-12 of the losses and 1e-10 of the parameters over 6 steps (the bound of
  // test_dist_train.cpp). A lookup that read a row before its missed steps (decay lr * wd = 3e-4
  // of its value a step, and its momentum's step of ~lr) would move both by far more.
  const std::string fp64 = "  steps: 6\n  checkpoint_every: 0\n  precision: fp64\n";
  const auto dense64 = run_blt("train " + config_file(dir, "dense64", "tiny", fp64));
  const auto sparse64 = run_blt("train " + config_file(dir, "sparse64", "tiny", fp64) + sparse);
  INFO(dense64.output << sparse64.output);
  REQUIRE(dense64.exit_code == 0);
  REQUIRE(sparse64.exit_code == 0);
  const auto dense_losses = losses(dir / "runs/dense64/metrics.jsonl"),
             sparse_losses = losses(dir / "runs/sparse64/metrics.jsonl");
  REQUIRE(sparse_losses.size() == 6);
  for (const auto& [step, values] : sparse_losses) {
    CAPTURE(step);
    const double want = std::stod(dense_losses.at(step)[0]);
    CHECK(std::abs(std::stod(values[0]) - want) <= 1e-12 * std::abs(want));
  }
  CHECK(blt::test::max_param_diff(dir / "runs/dense64", dir / "runs/sparse64") <= 1e-10);

  check_tiny_resume(dir, sparse);
  // zero2 and fsdp take the tables out of their shards and down the same row path
  // (parallel/hash_rows.h): the same run, to the same bounds.
  for (const std::string strategy : {"zero2", "fsdp"}) {
    const auto sharded = run_blt("train " + config_file(dir, strategy, "tiny", fp64) + sparse +
                                 " --set dist.strategy=" + strategy);
    INFO(sharded.output);
    REQUIRE(sharded.exit_code == 0);
    CHECK(blt::test::max_param_diff(dir / "runs/dense64", dir / ("runs/" + strategy)) <= 1e-10);
  }
  const auto lm = run_blt("train " + config_file(dir, "lm", "entropy-tiny", "  steps: 2\n") + sparse);
  CHECK(lm.exit_code != 0);
  CHECK_THAT(lm.output, Contains("the model has no hash n-gram tables"));
}

TEST_CASE("train: bf16 hash-table moments resume bit-identically and need sparse rows", "[train][resume][e2e]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const std::string bf16 = " --set train.optimizer.sparse_hash_rows=true --set train.optimizer.table_moments=bfloat16";
  check_tiny_resume(dir, bf16);  // the bf16 moments go through the checkpoint of step 4 and come back as they were
  const auto dense = run_blt("train " + config_file(dir, "dense", "tiny", "  steps: 2\n") +
                             " --set train.optimizer.table_moments=bfloat16");
  CHECK(dense.exit_code != 0);
  CHECK_THAT(dense.output, Contains("train.optimizer.table_moments: bfloat16 needs train.optimizer.sparse_hash_rows"));
}

TEST_CASE("train: resuming into another model shape names the first mismatching tensor", "[train][resume][e2e]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const auto cfg = config_file(dir, "shape", "entropy-tiny", "  steps: 2\n");
  REQUIRE(run_blt("train " + cfg).exit_code == 0);
  const auto r = run_blt("train " + cfg + " --set train.steps=4 --set model.transformer.ffn_dim=192");
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.output, Contains("layers.0.mlp.gate_proj.weight") && Contains("[176, 64]") && Contains("[192, 64]"));
}

TEST_CASE("train: entropy model then a BLT patched by it", "[train][e2e]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const auto lm = config_file(dir, "entropy", "entropy-tiny", "  steps: 6\n");
  REQUIRE(run_blt("train " + lm).exit_code == 0);
  const auto blt_cfg = config_file(dir, "blt", "tiny",
                                   "  steps: 4\nmodel:\n  patching: {mode: entropy, threshold: 3.0, entropy_model: " +
                                       (dir / "runs/entropy/model") + "}\n");
  const auto r = run_blt("train " + blt_cfg);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("patches/s") && Contains("mean patch"));
  const auto missing = run_blt("train " + blt_cfg + " --set 'model.patching.entropy_model=\"\"'");
  CHECK(missing.exit_code != 0);
  CHECK_THAT(missing.output, Contains("model.patching.entropy_model is empty"));

  // The threshold for a wanted mean patch size, as scripts/main.sh picks it.
  const auto found = run_blt("patching threshold " + (dir / "runs/entropy/model") + " --data " + (dir / "corpus/train") +
                             " --mean-patch 3 --seq-len 64 --sequences 8 --device cpu --json");
  INFO(found.output);
  REQUIRE(found.exit_code == 0);
  const auto result = nlohmann::json::parse(found.output.substr(found.output.find('{')));
  CHECK(result["mean_patch"].get<double>() == Approx(3.0).margin(0.3));
  const auto not_entropy = run_blt("patching threshold " + (dir / "runs/blt/model") + " --data " + (dir / "corpus/train"));
  CHECK(not_entropy.exit_code != 0);
  CHECK_THAT(not_entropy.output, Contains("holds a blt model, not a byte_lm"));
}

TEST_CASE("train: gradient accumulation over two halves equals the whole batch", "[train][e2e]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const auto whole = config_file(dir, "whole", "tiny", "  steps: 4\n");
  const auto halves = config_file(dir, "halves", "tiny", "  steps: 4\n  grad_accum: 2\n");
  REQUIRE(run_blt("train " + whole).exit_code == 0);
  const auto r = run_blt("train " + halves + " --set data.batch_size=2");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto a = losses(dir / "runs/whole/metrics.jsonl"), b = losses(dir / "runs/halves/metrics.jsonl");
  REQUIRE(a.size() == 4);
  REQUIRE(b.size() == 4);
  // Same sequences, same normalisation (by the step's target count): only the
  // order of float32 sums differs.
  for (int64_t step = 1; step <= 4; ++step) {
    CAPTURE(step);
    CHECK(std::stod(b.at(step)[0]) == Approx(std::stod(a.at(step)[0])).epsilon(1e-5));
  }
}

TEST_CASE("train: a FLOP budget sets the number of steps", "[train][e2e]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  // A byte LM's FLOPs per step follow from its shape alone: seq_len x batch x FLOPs per byte.
  const auto flops = run_blt("flops " + blt::test::source_path("configs/model/entropy-tiny.yaml") + " --seq-len 64 --json");
  REQUIRE(flops.exit_code == 0);
  const double per_step = nlohmann::json::parse(flops.output.substr(flops.output.find('{')))["train_per_byte"]["total"]
                              .get<double>() * 64 * 4;
  const auto cfg = config_file(dir, "budget", "entropy-tiny", "  steps: 1000\n  flop_budget: " +
                                                                  std::to_string(3.5 * per_step) + "\n");
  const auto r = run_blt("train " + cfg);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("-> 4 steps"));
  const auto l = losses(dir / "runs/budget/metrics.jsonl");
  CHECK(l.size() == 4);
  // The run's cumulative FLOP count is the same accounting: 4 steps' worth.
  double flops_total = 0;
  std::istringstream records(blt::test::read_file(dir / "runs/budget/metrics.jsonl"));
  for (std::string line; std::getline(records, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("flops_total")) flops_total = j.at("flops_total").get<double>();
  }
  CHECK(flops_total == Approx(4 * per_step).epsilon(1e-9));
}
