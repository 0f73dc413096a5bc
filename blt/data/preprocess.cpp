#include "blt/data/preprocess.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "blt/core/checksum.h"
#include "blt/core/error.h"
#include "blt/core/progress.h"
#include "blt/data/shard_writer.h"

namespace blt::data {
namespace fs = std::filesystem;

bool is_valid_document(std::string_view doc, double valid_fraction, uint64_t seed) {
  const uint64_t h = content_hash(doc.data(), doc.size(), seed);
  return double(h >> 11) * 0x1.0p-53 < valid_fraction;
}

namespace {

PreprocessReport write_shards(const PreprocessOptions& options, const DocumentSource& source, const fs::path& partial) {
  if (!(options.valid_fraction >= 0.0 && options.valid_fraction < 1.0))
    fail("preprocess: valid fraction must be in [0, 1), got {}", options.valid_fraction);
  if (options.shard_bytes < 1) fail("preprocess: shard size must be positive");
  const auto start = std::chrono::steady_clock::now();
  ShardSetWriter train((partial / "train").string(), options.shard_bytes);
  ShardSetWriter valid((partial / "valid").string(), options.shard_bytes);

  Progress progress("preprocess", source.total_file_bytes());
  source.for_each(
      [&](std::string_view doc) {
        (is_valid_document(doc, options.valid_fraction, options.seed) ? valid : train).add(doc);
      },
      [&](uint64_t done) {
        progress.update(done, fmt::format("docs {}", train.num_docs() + valid.num_docs()));
      });
  train.finish();
  valid.finish();
  progress.finish(fmt::format("docs {}", train.num_docs() + valid.num_docs()));
  if (train.num_docs() + valid.num_docs() == 0)
    fail("inputs {} hold no documents (every file is empty or blank)", fmt::join(options.inputs, ", "));
  if (train.num_docs() == 0) fail("every document went to the validation split: lower the valid fraction");

  PreprocessReport report;
  report.train_docs = train.num_docs();
  report.train_bytes = train.num_bytes();
  report.train_shards = train.num_shards();
  report.valid_docs = valid.num_docs();
  report.valid_bytes = valid.num_bytes();
  report.valid_shards = valid.num_shards();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  nlohmann::json manifest = {
      {"inputs", options.inputs},
      {"files", source.files().size()},
      {"format", options.source.format},
      {"text_field", options.source.text_field},
      {"doc_split", options.source.doc_split},
      {"valid_fraction", options.valid_fraction},
      {"seed", options.seed},
      {"train", {{"documents", report.train_docs}, {"bytes", report.train_bytes}, {"shards", report.train_shards}}},
      {"valid", {{"documents", report.valid_docs}, {"bytes", report.valid_bytes}, {"shards", report.valid_shards}}},
  };
  std::ofstream((partial / "manifest.json").string()) << manifest.dump(2) << "\n";
  return report;
}

}  // namespace

PreprocessReport preprocess(const PreprocessOptions& options) {
  if (options.out_dir.empty()) fail("preprocess: no output directory given");
  const DocumentSource source(options.inputs, options.source);
  const fs::path out(options.out_dir);
  // Replacing a previous preprocess output is fine; anything else is not ours to delete.
  if (fs::exists(out) && !fs::exists(out / "manifest.json"))
    fail("output directory '{}' exists and is not a blt preprocess output; remove it or choose another", out.string());
  const fs::path partial = out.string() + ".partial";
  fs::remove_all(partial);  // left over from an interrupted run
  PreprocessReport report;
  try {
    report = write_shards(options, source, partial);
  } catch (...) {
    fs::remove_all(partial);
    throw;
  }
  fs::remove_all(out);
  fs::rename(partial, out);
  return report;
}

}  // namespace blt::data
