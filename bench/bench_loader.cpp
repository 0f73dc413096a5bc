// Loader throughput: how many bytes per second the training loader hands out,
// against how many a training step consumes (see docs/data.md for the numbers).
//
//   bench_loader SHARDS [--seq-len L] [--batch B] [--workers K] [--seconds S]
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>

#include "blt/core/cpu_runtime.h"
#include "blt/cli/args.h"
#include "blt/core/progress.h"
#include "blt/data/loader.h"

int main(int argc, char** argv) {
  blt::setup_cpu_runtime(argv);
  std::string shards;
  int64_t seq_len = 4096, batch = 8, workers = 1, prefetch = 8;
  double seconds = 5.0;
  blt::cli::ArgParser parser("bench_loader", "Measure the data loader's throughput in bytes per second.");
  parser.positional("SHARDS", "shard directory, file or glob", &shards)
      .option("seq-len", "ids per sequence", &seq_len)
      .option("batch", "sequences per batch", &batch)
      .option("workers", "loader threads", &workers)
      .option("prefetch", "batches built ahead", &prefetch)
      .option("seconds", "how long to measure", &seconds);
  try {
    if (!parser.parse({argv + 1, argv + argc})) return 0;
    auto corpus = std::make_shared<const blt::data::ShardSet>(shards, true);
    blt::data::LoaderOptions o;
    o.seq_len = seq_len;
    o.batch_size = batch;
    o.workers = static_cast<int>(workers);
    o.prefetch = static_cast<int>(prefetch);
    blt::data::Loader loader(corpus, o);
    loader.next();  // warm-up: epoch plan, page cache
    const auto start = std::chrono::steady_clock::now();
    uint64_t batches = 0;
    double elapsed = 0;
    while (elapsed < seconds) {
      loader.next();
      ++batches;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    const double ids = double(batches) * batch * seq_len;  // new ids per batch (one id overlaps)
    std::cout << fmt::format(
        "loader: corpus {} ({}), seq_len {}, batch {}, workers {}: {:.0f} batches/s, {}/s ({:.3g} ids/s)\n", shards,
        blt::human_bytes(double(corpus->num_bytes())), seq_len, batch, workers, batches / elapsed,
        blt::human_bytes(ids / elapsed), ids / elapsed);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
