#include "blt/config/run_config.h"
#include "helpers.h"

using blt::test::TempDir;
using blt::test::write_file;
using Catch::Matchers::Contains;

namespace {

blt::RunConfig load(const TempDir& dir, const std::string& file, std::vector<std::string> overrides = {}) {
  return blt::load_run_config(dir / file, overrides);
}

}  // namespace

TEST_CASE("config: includes merge in order, the including file wins, --set wins over all", "[config]") {
  TempDir dir;
  write_file(dir / "parts/data.yaml", "data:\n  seq_len: 128\n  batch_size: 4\n");
  write_file(dir / "parts/data2.yaml", "data:\n  batch_size: 6\n  seed: 7\n");
  write_file(dir / "run.yaml", "include: [parts/data.yaml, parts/data2.yaml]\ndata:\n  seed: 9\ntrain:\n  steps: 5\n");
  auto cfg = load(dir, "run.yaml");
  CHECK(cfg.data.seq_len == 128);
  CHECK(cfg.data.batch_size == 6);
  CHECK(cfg.data.seed == 9);
  CHECK(cfg.train.steps == 5);
  CHECK(cfg.data.workers == blt::data::DataConfig{}.workers);  // untouched default

  cfg = load(dir, "run.yaml", {"data.seq_len=256", "train.out_dir=runs/x"});
  CHECK(cfg.data.seq_len == 256);
  CHECK(cfg.train.out_dir == "runs/x");
}

TEST_CASE("config: unknown key names the key, the file and the line", "[config]") {
  TempDir dir;
  write_file(dir / "run.yaml", "data:\n  seq_len: 128\n  seq_lenn: 3\n");
  REQUIRE_THROWS_WITH(load(dir, "run.yaml"),
                      Contains("unknown config key 'data.seq_lenn'") && Contains("run.yaml:3"));
  write_file(dir / "top.yaml", "dat:\n  seq_len: 128\n");
  REQUIRE_THROWS_WITH(load(dir, "top.yaml"), Contains("unknown config key 'dat'") && Contains("top.yaml:1"));
}

TEST_CASE("config: an error in an included file names that file", "[config]") {
  TempDir dir;
  write_file(dir / "parts/bad.yaml", "train:\n  steps: 10\n  log_every: zero\n");
  write_file(dir / "run.yaml", "include: parts/bad.yaml\n");
  REQUIRE_THROWS_WITH(load(dir, "run.yaml"), Contains("'train.log_every'") && Contains("bad.yaml:3") &&
                                                 Contains("expected an integer, got 'zero'"));
}

TEST_CASE("config: wrong types are errors", "[config]") {
  TempDir dir;
  write_file(dir / "a.yaml", "data:\n  seq_len: 1.5\n");
  REQUIRE_THROWS_WITH(load(dir, "a.yaml"), Contains("'data.seq_len'") && Contains("expected an integer"));
  write_file(dir / "b.yaml", "data:\n  verify_checksums: 1\n");
  REQUIRE_THROWS_WITH(load(dir, "b.yaml"), Contains("'data.verify_checksums'") && Contains("true or false"));
  write_file(dir / "c.yaml", "data: [1, 2]\n");
  REQUIRE_THROWS_WITH(load(dir, "c.yaml"), Contains("'data'") && Contains("expected a mapping"));
  write_file(dir / "d.yaml", "data:\n  train: {a: 1}\n");
  REQUIRE_THROWS_WITH(load(dir, "d.yaml"), Contains("'data.train'") && Contains("expected a string"));
}

TEST_CASE("config: out-of-range values and bad choices are errors", "[config]") {
  TempDir dir;
  write_file(dir / "a.yaml", "data:\n  seq_len: 1\n");
  REQUIRE_THROWS_WITH(load(dir, "a.yaml"), Contains("'data.seq_len'") && Contains("a.yaml:2") &&
                                               Contains("must be in [2,"));
  write_file(dir / "b.yaml", "dist:\n  strategy: zero9\n");
  REQUIRE_THROWS_WITH(load(dir, "b.yaml"), Contains("'dist.strategy'") && Contains("must be one of: ddp, zero2, fsdp"));
}

TEST_CASE("config: errors from --set name the argument", "[config]") {
  TempDir dir;
  write_file(dir / "run.yaml", "data:\n  seq_len: 128\n");
  REQUIRE_THROWS_WITH(load(dir, "run.yaml", {"data.batch_size=-3"}),
                      Contains("'data.batch_size'") && Contains("--set data.batch_size=-3"));
  REQUIRE_THROWS_WITH(load(dir, "run.yaml", {"data.nope=1"}),
                      Contains("unknown config key 'data.nope'") && Contains("--set data.nope=1"));
  REQUIRE_THROWS_WITH(load(dir, "run.yaml", {"data.seq_len.x=1"}), Contains("is a value, not a section"));
  REQUIRE_THROWS_WITH(load(dir, "run.yaml", {"novalue"}), Contains("must have the form key.path=value"));
}

TEST_CASE("config: non-finite numbers are errors naming the key and where it was set", "[config][trust-io]") {
  TempDir dir;
  write_file(dir / "inf.yaml", "train:\n  steps: 3\n  optimizer:\n    lr: .inf\n");
  REQUIRE_THROWS_WITH(load(dir, "inf.yaml"), Contains("'train.optimizer.lr'") && Contains("inf.yaml:4") &&
                                                  Contains("expected a finite number, got '.inf'"));
  write_file(dir / "nan.yaml", "train:\n  optimizer:\n    lr: .NaN\n");
  REQUIRE_THROWS_WITH(load(dir, "nan.yaml"), Contains("'train.optimizer.lr'") && Contains("nan.yaml:3") &&
                                                  Contains("expected a finite number"));
  write_file(dir / "run.yaml", "data:\n  seq_len: 128\n");
  REQUIRE_THROWS_WITH(load(dir, "run.yaml", {"train.optimizer.lr=-.inf"}),
                      Contains("'train.optimizer.lr'") && Contains("--set train.optimizer.lr=-.inf") &&
                          Contains("expected a finite number"));
  CHECK(load(dir, "run.yaml", {"train.optimizer.lr=1e-3"}).train.optimizer.lr == 1e-3);
}

TEST_CASE("cli: numeric options and --set refuse non-finite numbers", "[config][cli][trust-io]") {
  const std::string config = blt::test::source_path("configs/blt-small-cpu.yaml");
  auto inf = blt::test::run_blt("flops " + config + " --patch-size inf");
  CHECK(inf.exit_code != 0);
  CHECK_THAT(inf.output, Contains("--patch-size expects a finite number, got 'inf'"));
  auto nan = blt::test::run_blt("flops " + config + " --set train.optimizer.lr=.nan");
  CHECK(nan.exit_code != 0);
  CHECK_THAT(nan.output, Contains("'train.optimizer.lr'") && Contains("expected a finite number"));
}

TEST_CASE("config: --set with an empty, ~ or null value is refused, naming the key", "[config][trust-io]") {
  TempDir dir;
  write_file(dir / "run.yaml", "data:\n  seq_len: 128\n");
  for (const std::string value : {"", "~", "null", "Null", "{a: ~}"}) {
    INFO("value '" << value << "'");
    REQUIRE_THROWS_WITH(load(dir, "run.yaml", {"data.seq_len=" + value}),
                        Contains("'--set data.seq_len=" + value + "'") && Contains("gives 'data.seq_len' no value"));
  }
  // A quoted empty string is a value.
  CHECK(load(dir, "run.yaml", {"train.out_dir=\"\""}).train.out_dir.empty());
}

TEST_CASE("config: file problems are clear", "[config]") {
  TempDir dir;
  REQUIRE_THROWS_WITH(load(dir, "missing.yaml"), Contains("missing.yaml' does not exist"));
  write_file(dir / "syntax.yaml", "data:\n  seq_len: [1, 2\n");
  REQUIRE_THROWS_WITH(load(dir, "syntax.yaml"), Contains("syntax.yaml:") && Contains("YAML syntax error"));
  write_file(dir / "loop.yaml", "include: loop.yaml\n");
  REQUIRE_THROWS_WITH(load(dir, "loop.yaml"), Contains("includes itself"));
  write_file(dir / "inc.yaml", "include: nothere.yaml\n");
  REQUIRE_THROWS_WITH(load(dir, "inc.yaml"), Contains("nothere.yaml' does not exist"));
}

TEST_CASE("config: the printed config reads back to the same values", "[config]") {
  TempDir dir;
  write_file(dir / "run.yaml", "data:\n  seq_len: 333\n  train: some/where\ntrain:\n  steps: 17\n");
  const auto cfg = load(dir, "run.yaml");
  const std::string text = blt::config::to_yaml(cfg);
  write_file(dir / "again.yaml", text);
  const auto again = load(dir, "again.yaml");
  CHECK(blt::config::to_yaml(again) == text);
  CHECK(again.data.seq_len == 333);
  CHECK(again.data.train == "some/where");
  CHECK(again.train.steps == 17);
}

TEST_CASE("cli: config show prints the resolved config and bad keys exit non-zero", "[config][cli]") {
  TempDir dir;
  write_file(dir / "run.yaml", "data:\n  seq_len: 64\n");
  auto ok = blt::test::run_blt("config show " + (dir / "run.yaml") + " --set train.steps=3");
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.output, Contains("seq_len: 64") && Contains("steps: 3"));
  auto bad = blt::test::run_blt("config show " + (dir / "run.yaml") + " --set train.stepz=3");
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.output, Contains("unknown config key 'train.stepz'"));
  auto unknown = blt::test::run_blt("config show --bogus");
  CHECK(unknown.exit_code != 0);
  CHECK_THAT(unknown.output, Contains("unknown option '--bogus'"));
}
