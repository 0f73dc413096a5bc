#include <iostream>

#include <spdlog/spdlog.h>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/core/error.h"
#include "blt/core/progress.h"
#include "blt/data/corpus_stats.h"
#include "blt/data/preprocess.h"

namespace blt::cli {

int preprocess(const Args& args) {
  data::PreprocessOptions o;
  int64_t seed = 0, shard_mb = 256, max_doc_mb = 64;
  ArgParser parser("preprocess",
                   "Turn raw text into train/valid byte shards (format: docs/data-format.md).\n"
                   "Inputs: plain-text files, directories (recursive), JSON lines with a text field;\n"
                   "any of them may be gzip'd. Writes OUT/train/*.bltshard, OUT/valid/*.bltshard and\n"
                   "OUT/manifest.json; the split is by document content, so it is deterministic.");
  parser.positionals("INPUT", "input files or directories", &o.inputs)
      .option("out", "output directory (replaced if it holds an earlier preprocess output)", &o.out_dir)
      .option("format", "auto (by extension), text or jsonl", &o.source.format)
      .option("text-field", "jsonl: the field holding the document", &o.source.text_field)
      .option("doc-split", "text: file (a document per file), blank-line (paragraphs) or line", &o.source.doc_split)
      .option("valid-fraction", "share of documents for validation", &o.valid_fraction)
      .option("seed", "seed of the train/valid split", &seed)
      .option("shard-mb", "payload MiB per shard", &shard_mb)
      .option("max-doc-mb", "longer documents are cut at a line end", &max_doc_mb)
      .flag("keep-binary",
            "read files that look binary (NUL bytes, mostly invalid UTF-8) as text; by default directory walks "
            "skip them and named ones are refused",
            &o.source.keep_binary);
  if (!parser.parse(args)) return 0;
  if (o.out_dir.empty()) fail("blt preprocess: --out is required");
  if (seed < 0 || shard_mb < 1 || max_doc_mb < 1) fail("blt preprocess: --seed must be >= 0, --shard-mb and --max-doc-mb >= 1");
  o.seed = static_cast<uint64_t>(seed);
  o.shard_bytes = static_cast<uint64_t>(shard_mb) << 20;
  o.source.max_doc_bytes = static_cast<uint64_t>(max_doc_mb) << 20;
  const auto r = data::preprocess(o);
  if (r.skipped_binary.files > 0)
    spdlog::warn("skipped {} binary files ({}), e.g. {}; --keep-binary reads them as text", r.skipped_binary.files,
                 human_bytes(double(r.skipped_binary.bytes)), fmt::join(r.skipped_binary.examples, ", "));
  spdlog::info("wrote {}: train {} documents, {} in {} shards; valid {} documents, {} in {} shards ({:.1f} s)",
               o.out_dir, r.train_docs, human_bytes(double(r.train_bytes)), r.train_shards, r.valid_docs,
               human_bytes(double(r.valid_bytes)), r.valid_shards, r.seconds);
  return 0;
}

int data_stats(const Args& args) {
  std::vector<std::string> specs;
  bool json = false, no_verify = false;
  ArgParser parser("data stats",
                   "Documents, bytes, byte-unigram entropy (bits/byte) and UTF-8 script mix of shards.\n"
                   "Each SHARDS is a directory of *.bltshard files, a file, or a glob.");
  parser.positionals("SHARDS", "shard sets to describe, each reported on its own", &specs)
      .flag("json", "print JSON instead of a table", &json)
      .flag("no-verify", "skip the payload checksum check", &no_verify);
  if (!parser.parse(args)) return 0;
  for (const auto& spec : specs) {
    const data::ShardSet shards(spec, !no_verify);
    const auto stats = data::compute_stats(shards);
    std::cout << (json ? data::stats_json(stats) + "\n" : data::format_stats(spec, stats)) << std::flush;
  }
  return 0;
}

}  // namespace blt::cli
