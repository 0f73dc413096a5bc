// A failed write or rename names the file and the system's reason. /dev/full fails
// every write with ENOSPC: the temporary file of a write, linked to it, stands in
// for a full disk.
#include <unistd.h>

#include "blt/core/files.h"
#include "blt/core/safetensors.h"
#include "blt/data/shard_writer.h"
#include "blt/train/metrics_log.h"
#include "helpers.h"

using blt::test::TempDir;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// The temporary name blt::AtomicFileWriter uses for `path` in this process.
std::string atomic_temp(const std::string& path) { return path + ".tmp" + std::to_string(getpid()); }

}  // namespace

TEST_CASE("files: a write into a full disk names the file and the reason", "[files][errors][trust-io]") {
  REQUIRE(fs::exists("/dev/full"));
  TempDir dir;
  const std::string no_space = "No space left on device";

  const std::string json = dir / "a.json";
  fs::create_symlink("/dev/full", atomic_temp(json));
  REQUIRE_THROWS_WITH(blt::write_file_atomic(json, std::string(100000, 'x')),
                      Contains(atomic_temp(json)) && Contains(no_space));
  CHECK_FALSE(fs::exists(json));

  const std::string weights = dir / "model.safetensors";
  fs::create_symlink("/dev/full", atomic_temp(weights));
  const std::vector<std::pair<std::string, torch::Tensor>> tensors{{"w", torch::ones({1000})}};
  REQUIRE_THROWS_WITH(blt::safetensors::write(weights, tensors, {}),
                      Contains(atomic_temp(weights)) && Contains(no_space));
  CHECK_FALSE(fs::exists(weights));

  const std::string shard = dir / "shard-00000.bltshard";
  fs::create_symlink("/dev/full", shard + ".tmp");
  REQUIRE_THROWS_WITH(
      [&] {
        blt::data::ShardWriter writer(shard);
        writer.add(std::string(3 << 20, 'x'));
        writer.finish();
      }(),
      Contains(shard + ".tmp") && Contains(no_space));
  CHECK_FALSE(fs::exists(shard));

  blt::train::MetricsLog metrics("/dev/full", 0);
  REQUIRE_THROWS_WITH(metrics.write({{"step", 1}}), Contains("metrics log '/dev/full'") && Contains(no_space));
}

TEST_CASE("files: failed reads and renames name the file and the reason", "[files][errors][trust-io]") {
  TempDir dir;
  REQUIRE_THROWS_WITH(blt::read_text_file(dir / "missing.yaml"),
                      Contains("missing.yaml'") && Contains("No such file or directory"));
  blt::test::write_file(dir / "taken/inside.txt", "a directory in the way");
  REQUIRE_THROWS_WITH(blt::write_file_atomic(dir / "taken", "text"),
                      Contains("cannot rename") && Contains("taken'") && Contains("Is a directory"));
  CHECK(fs::is_directory(dir / "taken"));
  CHECK_FALSE(fs::exists(atomic_temp(dir / "taken")));
}
