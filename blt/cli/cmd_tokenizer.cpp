#include <algorithm>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/core/error.h"
#include "blt/data/shard_reader.h"
#include "blt/data/tokenizer.h"

namespace blt::cli {
namespace {

int default_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

}  // namespace

int tokenizer_train(const Args& args) {
  std::string shards, out;
  int64_t vocab = 8192, sample_mb = 20, seed = 0, threads = default_threads();
  ArgParser parser("tokenizer train",
                   "Train the token baseline's BPE tokenizer (SentencePiece, byte fallback, tokens that cover\n"
                   "the text exactly) on a seeded sample of the training shards; use it as data.tokenizer\n"
                   "with a token_lm whose model.vocab_size is at least --vocab.");
  parser.positional("SHARDS", "training shards (directory, file or glob)", &shards)
      .option("vocab", "vocabulary size, special ids and 256 byte pieces included", &vocab)
      .option("out", "where the .model file goes", &out)
      .option("sample-mb", "MB of text drawn from the shards to train on", &sample_mb)
      .option("seed", "which documents are drawn", &seed)
      .option("threads", "training threads", &threads);
  if (!parser.parse(args)) return 0;
  if (out.empty()) fail("blt tokenizer train: --out is required");
  if (sample_mb < 1 || threads < 1 || seed < 0) fail("blt tokenizer train: --sample-mb and --threads must be >= 1");
  const data::ShardSet corpus(shards, true);
  data::TokenizerTrainOptions o;
  o.vocab_size = vocab;
  o.sample_bytes = sample_mb << 20;
  o.seed = static_cast<uint64_t>(seed);
  o.threads = threads;
  const int64_t trained_on = data::train_tokenizer(corpus, o, out);
  spdlog::info("tokenizer {} ({} ids) trained on {:.1f} MB of {}", out, vocab, trained_on / 1e6, shards);
  return 0;
}

// Bytes per token is what turns a token LM's per-token cost into a per-byte one.
int tokenizer_stats(const Args& args) {
  std::string model, shards;
  int64_t threads = default_threads();
  bool json = false;
  ArgParser parser("tokenizer stats", "Tokens, bytes and bytes per token of shards under a tokenizer; checks that\n"
                                      "the tokens decode back to the text.");
  parser.positional("MODEL", "tokenizer model (.model)", &model)
      .positional("SHARDS", "shards (directory, file or glob)", &shards)
      .option("threads", "encoding threads", &threads)
      .flag("json", "print JSON", &json);
  if (!parser.parse(args)) return 0;
  const data::Tokenizer tokenizer(model);
  const data::ShardSet corpus(shards, true);
  const auto encoded = data::encode_corpus(corpus, tokenizer, static_cast<int>(threads));
  double covered = 0;
  for (const int32_t id : encoded.ids) covered += tokenizer.bytes_per_id()[id];
  if (covered != double(encoded.bytes))
    fail("tokenizer '{}': tokens of '{}' stand for {} bytes, but the text has {}", model, shards, covered,
         encoded.bytes);
  if (json) {
    std::cout << nlohmann::json{{"tokens", encoded.ids.size()},
                                {"bytes", encoded.bytes},
                                {"bytes_per_token", encoded.bytes_per_token()},
                                {"vocab_size", tokenizer.vocab_size()}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << fmt::format("{}: {} tokens, {} bytes, {:.4f} bytes/token (vocabulary {})\n", shards,
                             encoded.ids.size(), encoded.bytes, encoded.bytes_per_token(), tokenizer.vocab_size());
  }
  return 0;
}

}  // namespace blt::cli
