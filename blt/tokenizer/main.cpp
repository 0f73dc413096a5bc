// blt-tokenizer: the token baseline's BPE tokenizer, in a program of its own.
// Debian's libsentencepiece carries its own protobuf-lite, which cannot share a
// process with LibTorch's protobuf (docs/sweeps.md), so SentencePiece lives
// here and blt reads only what this writes: token shards (data/token_shards.h).
#include <algorithm>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "blt/cli/args.h"
#include "blt/core/error.h"
#include "blt/core/files.h"
#include "blt/core/log.h"
#include "blt/data/preprocess_output.h"
#include "blt/data/shard_reader.h"
#include "blt/tokenizer/bpe_tokenizer.h"

namespace {

using blt::fail;
using blt::cli::ArgParser;

int64_t default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

int train(const std::vector<std::string>& args) {
  std::string shards, out;
  int64_t vocab = 8192, sample_mb = 20, seed = 0, threads = default_threads();
  ArgParser parser("train",
                   "Train the token baseline's BPE tokenizer (SentencePiece, byte fallback, tokens that cover\n"
                   "the text exactly) on a seeded sample of the training shards.");
  parser.positional("SHARDS", "training shards (directory, file or glob)", &shards)
      .option("vocab", "vocabulary size, 4 special ids and 256 byte pieces included", &vocab)
      .option("out", "where the .model file goes", &out)
      .option("sample-mb", "MiB of text drawn from the shards to train on", &sample_mb)
      .option("seed", "which documents are drawn", &seed)
      .option("threads", "training threads", &threads);
  if (!parser.parse(args)) return 0;
  if (out.empty()) fail("blt-tokenizer train: --out is required");
  if (sample_mb < 1 || threads < 1 || seed < 0) fail("blt-tokenizer train: --sample-mb and --threads must be >= 1, --seed >= 0");
  const blt::data::ShardSet corpus(shards, true);
  blt::tokenizer::TrainOptions o;
  o.vocab_size = vocab;
  o.sample_bytes = sample_mb << 20;
  o.seed = static_cast<uint64_t>(seed);
  o.threads = threads;
  const int64_t trained_on = blt::tokenizer::train_tokenizer(corpus, o, out);
  spdlog::info("tokenizer {} ({} ids) trained on {:.2f} MB of {}", out, vocab, trained_on / 1e6, shards);
  return 0;
}

int encode(const std::vector<std::string>& args) {
  std::string model, out, train_spec, valid_spec;
  int64_t threads = default_threads(), shard_mb = 256;
  ArgParser parser("encode",
                   "Encode byte shards into token shards: OUT/train and OUT/valid, each with a tokens.json giving\n"
                   "every id's bytes of text (a token LM's bits per byte divides by them). OUT is published\n"
                   "whole, by rename, like blt preprocess's output.");
  parser.positional("MODEL", "tokenizer model (blt-tokenizer train)", &model)
      .option("train", "training shards (directory, file or glob)", &train_spec)
      .option("valid", "validation shards (optional)", &valid_spec)
      .option("out", "output directory", &out)
      .option("threads", "encoding threads", &threads)
      .option("shard-mb", "payload MiB per token shard", &shard_mb);
  if (!parser.parse(args)) return 0;
  if (out.empty() || train_spec.empty()) fail("blt-tokenizer encode: --train and --out are required");
  if (threads < 1 || shard_mb < 1) fail("blt-tokenizer encode: --threads and --shard-mb must be >= 1");
  const blt::tokenizer::BpeTokenizer tokenizer(model);
  blt::data::PreprocessOutput output(out);
  nlohmann::json manifest = {{"tokenizer", model}, {"vocab_size", tokenizer.vocab_size()}};
  for (const auto& [split, spec] : {std::pair{std::string("train"), train_spec}, std::pair{std::string("valid"), valid_spec}}) {
    if (spec.empty()) continue;
    const auto table = blt::tokenizer::encode_shards(blt::data::ShardSet(spec, true), tokenizer,
                                                     output.staging() + "/" + split,
                                                     static_cast<uint64_t>(shard_mb) << 20, static_cast<int>(threads));
    spdlog::info("{} ({}): {} bytes as {} tokens, {:.3f} bytes/token", split, spec, table.text_bytes, table.tokens,
                 table.bytes_per_token());
    manifest[split] = {{"source", spec}, {"text_bytes", table.text_bytes}, {"tokens", table.tokens},
                       {"bytes_per_token", table.bytes_per_token()}};
  }
  output.publish(manifest);
  return 0;
}

// For `blt eval` on a token_lm: task prompts and answers, encoded one by one.
int encode_texts(const std::vector<std::string>& args) {
  std::string model, in, out;
  ArgParser parser("encode-texts",
                   "Encode texts into ids: IN holds a JSON array of strings, OUT gets a JSON array of id arrays\n"
                   "(no BOS), one per string, in order.");
  parser.positional("MODEL", "tokenizer model (blt-tokenizer train)", &model)
      .option("in", "JSON array of strings", &in)
      .option("out", "where the JSON array of id arrays goes", &out);
  if (!parser.parse(args)) return 0;
  if (in.empty() || out.empty()) fail("blt-tokenizer encode-texts: --in and --out are required");
  const blt::tokenizer::BpeTokenizer tokenizer(model);
  nlohmann::json texts;
  try {
    texts = nlohmann::json::parse(blt::read_text_file(in));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not JSON: {}", in, e.what());
  }
  if (!texts.is_array()) fail("{}: expected a JSON array of strings", in);
  auto ids = nlohmann::json::array();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (!texts[i].is_string()) fail("{}: element {} is not a string", in, i);
    const auto text = texts[i].get<std::string>();
    const auto encoded = tokenizer.encode(text);
    if (tokenizer.decode(encoded) != text) fail("{}: element {} does not decode back to itself", in, i);
    ids.push_back(encoded);
  }
  blt::write_file_atomic(out, ids.dump());
  return 0;
}

void print_help() {
  std::cout << "usage: blt-tokenizer <command> [arguments] [--help]\n\n"
               "The BPE tokenizer of the token-LM baseline (SentencePiece); docs/sweeps.md.\n\ncommands:\n"
               "  train    train a tokenizer on byte shards\n"
               "  encode   byte shards -> token shards that blt trains and evaluates a token_lm on\n"
               "  encode-texts  a JSON array of strings -> a JSON array of id arrays (blt eval --tasks)\n";
}

}  // namespace

int main(int argc, char** argv) {
  blt::init_logging({});
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    print_help();
    return args.empty() ? 1 : 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    if (args[0] == "train") return train(rest);
    if (args[0] == "encode") return encode(rest);
    if (args[0] == "encode-texts") return encode_texts(rest);
    std::cerr << "blt-tokenizer: unknown command '" << args[0] << "'\n\n";
    print_help();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
  }
  return 1;
}
