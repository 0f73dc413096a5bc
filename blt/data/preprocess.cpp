#include "blt/data/preprocess.h"

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>

#include "blt/core/checksum.h"
#include "blt/core/error.h"
#include "blt/core/progress.h"
#include "blt/data/preprocess_output.h"
#include "blt/data/shard_writer.h"

namespace blt::data {
namespace fs = std::filesystem;

bool is_valid_document(std::string_view doc, double valid_fraction, uint64_t seed) {
  const uint64_t h = content_hash(doc.data(), doc.size(), seed);
  return double(h >> 11) * 0x1.0p-53 < valid_fraction;
}

namespace {

// Writes the shards into `staging`; returns the report and the manifest to publish with them.
std::pair<PreprocessReport, nlohmann::json> write_shards(const PreprocessOptions& options, const DocumentSource& source,
                                                         const fs::path& staging) {
  const auto start = std::chrono::steady_clock::now();
  ShardSetWriter train((staging / "train").string(), options.shard_bytes);
  ShardSetWriter valid((staging / "valid").string(), options.shard_bytes);

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
  report.skipped_binary = source.skipped_binary();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const nlohmann::json manifest = {
      {"inputs", options.inputs},
      {"files", source.files().size()},
      {"format", options.source.format},
      {"text_field", options.source.text_field},
      {"doc_split", options.source.doc_split},
      {"keep_binary", options.source.keep_binary},
      {"skipped_binary", {{"files", report.skipped_binary.files}, {"bytes", report.skipped_binary.bytes}}},
      {"valid_fraction", options.valid_fraction},
      {"seed", options.seed},
      {"train", {{"documents", report.train_docs}, {"bytes", report.train_bytes}, {"shards", report.train_shards}}},
      {"valid", {{"documents", report.valid_docs}, {"bytes", report.valid_bytes}, {"shards", report.valid_shards}}},
  };
  return {report, manifest};
}

}  // namespace

PreprocessReport preprocess(const PreprocessOptions& options) {
  if (options.out_dir.empty()) fail("preprocess: no output directory given");
  if (!(options.valid_fraction >= 0.0 && options.valid_fraction < 1.0))
    fail("preprocess: valid fraction must be in [0, 1), got {}", options.valid_fraction);
  if (options.shard_bytes < 1) fail("preprocess: shard size must be positive");
  const DocumentSource source(options.inputs, options.source);
  PreprocessOutput output(options.out_dir);  // removes its staging directory unless published
  auto [report, manifest] = write_shards(options, source, output.staging());
  output.publish(std::move(manifest));
  return report;
}

}  // namespace blt::data
