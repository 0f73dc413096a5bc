// `blt bench`: times the trainer's own steps and reports them; it must not leave
// a model or checkpoints behind, nor touch a run directory it was not given.
#include <nlohmann/json.hpp>

#include "train_test_util.h"

using blt::test::config_file;
using blt::test::run_blt;
using blt::test::TempDir;
using blt::test::write_corpus;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

TEST_CASE("bench: times the timed steps by phase and writes its results", "[bench][e2e]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const auto cfg = config_file(dir, "run", "tiny", "  steps: 50\n");
  const std::string out = dir / "bench-run", json = dir / "bench.json";
  const auto r = run_blt("bench " + cfg + " --steps 3 --warmup 1 --out " + out + " --json " + json);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("3 timed steps after 1 warm-up") && Contains("backward"));
  const auto j = nlohmann::json::parse(blt::test::read_file(json));
  CHECK(j.at("timed_steps").get<int>() == 3);
  CHECK(j.at("startup_s").get<double>() > 0);  // from the config to the first step
  CHECK_THAT(r.output, Contains("start-up"));
  // The tiny config trains 4 sequences of 64 ids a step; byte targets are those that are not EOS or padding.
  const double bytes = j.at("bytes_per_step").get<double>();
  CHECK(bytes > 0);
  CHECK(bytes <= 4 * 64);
  const double step = j.at("step_ms_median").get<double>();
  REQUIRE(j.at("steps_ms").size() == 3);
  for (const auto& row : j.at("steps_ms")) {
    double phases = 0;
    for (const char* phase : {"data", "forward", "backward", "update"}) {
      CAPTURE(phase);
      CHECK(row.at(phase).get<double>() > 0);  // each phase does work, timed by the host clock on the CPU
      phases += row.at(phase).get<double>();
    }
    // The phases are consecutive slices of the step, read from one clock: their sum cannot exceed it
    // (1e-9 ms of slack for the rounding of the sum).
    CHECK(phases <= row.at("total").get<double>() + 1e-9);
    // The model's parts cut the phases into slices: forward and backward of every part of the BLT,
    // and within each phase they add up to it (sums of the same clock's differences: 1e-9 ms).
    const auto& parts = row.at("parts");
    for (const char* part : {"data/loader", "data/patching", "forward/embeddings", "forward/local encoder",
                             "forward/encoder cross-attention", "forward/global", "forward/decoder cross-attention",
                             "forward/local decoder", "forward/lm head", "forward/loss", "backward/loss",
                             "backward/lm head", "backward/local decoder", "backward/decoder cross-attention",
                             "backward/global", "backward/encoder cross-attention", "backward/local encoder",
                             "backward/embeddings", "update/gradient sum", "update"}) {
      CAPTURE(part);
      CHECK(parts.contains(part));
    }
    for (const std::string phase : {"data", "forward", "backward", "update"}) {
      double sum = 0;
      for (const auto& [part, ms] : parts.items())
        if (part.rfind(phase, 0) == 0) sum += ms.get<double>();
      CAPTURE(phase);
      CHECK(sum == Approx(row.at(phase).get<double>()).margin(1e-9));
    }
  }
  CHECK_THAT(r.output, Contains("backward/global") && Contains("forward/local decoder"));
  CHECK(j.at("bytes_per_s").get<double>() == Approx(bytes / (step / 1e3)).epsilon(1e-9));
  // No evaluation, no checkpoints, no final model; the given directory is kept.
  CHECK(fs::exists(out + "/config.yaml"));
  CHECK_FALSE(fs::exists(out + "/model"));
  CHECK_FALSE(fs::exists(out + "/checkpoints/latest"));
  CHECK_FALSE(fs::exists(dir / "runs/run"));  // the config's own out_dir is not used
}

TEST_CASE("bench: bad step counts are errors", "[bench][cli]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const auto cfg = config_file(dir, "run", "tiny", "  steps: 5\n");
  for (const std::string bad : {"--steps 0", "--warmup -1"}) {
    CAPTURE(bad);
    const auto r = run_blt("bench " + cfg + " " + bad);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.output, Contains(bad.substr(0, bad.find(' '))));
  }
}
