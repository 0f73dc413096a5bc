#include <iostream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/cli/device_option.h"
#include "blt/config/run_config.h"
#include "blt/core/error.h"
#include "blt/data/corpus_stats.h"
#include "blt/dist/launch_env.h"
#include "blt/model/model_checkpoint.h"
#include "blt/model/patcher.h"
#include "blt/train/checkpoint_model.h"
#include "blt/train/evaluate.h"
#include "blt/train/trainer.h"

namespace blt::cli {

int train(const Args& args) {
  std::string path;
  std::vector<std::string> overrides;
  ArgParser parser("train",
                   "Train a model (blt, byte_lm or token_lm) from a YAML config. Runs as one process,\n"
                   "or as many under torchrun / scripts/launch.sh (RANK, WORLD_SIZE, ... from the\n"
                   "environment). Run again with the same command to resume from the latest checkpoint.");
  parser.positional("CONFIG", "YAML config file", &path).repeated("set", "override a key: --set a.b=value", &overrides);
  if (!parser.parse(args)) return 0;
  const auto config = load_run_config(path, overrides);
  const auto outcome = train::train(config, dist::launch_env_from_environment());
  if (outcome.valid) {
    const data::ShardSet valid(config.data.valid, false);
    const double unigram = data::compute_stats(valid).unigram_entropy_bits();
    const double bpb = outcome.valid->sums.bits_per_byte();
    spdlog::info("done: {} steps; validation {:.4f} bits/byte, {:.1f}% below the byte-unigram entropy of that text "
                 "({:.4f} bits/byte)",
                 outcome.steps, bpb, 100 * (1 - bpb / unigram), unigram);
  } else {
    spdlog::info("done: {} steps; last training loss {:.4f}", outcome.steps, outcome.last_loss);
  }
  return 0;
}

int eval(const Args& args) {
  std::string checkpoint, data_spec, device_name = "auto", tokenizer;
  int64_t seq_len = 4096, batch_size = 8, max_batches = 0;
  bool json = false;
  ArgParser parser("eval",
                   "Bits per byte of a model checkpoint on held-out shards: every byte, in order, once.\n"
                   "CKPT is a model checkpoint or a training checkpoint directory (step-N).");
  parser.positional("CKPT", "checkpoint directory", &checkpoint)
      .option("data", "validation shards (directory, file or glob)", &data_spec)
      .option("seq-len", "ids per evaluated sequence", &seq_len)
      .option("batch-size", "sequences per batch", &batch_size)
      .option("max-batches", "stop after this many batches; 0 = all", &max_batches)
      .option("device", "auto, cpu or cuda", &device_name)
      .option("tokenizer", "token_lm: its tokenizer (the run's data.tokenizer)", &tokenizer)
      .flag("json", "print the result as JSON", &json);
  if (!parser.parse(args)) return 0;
  if (data_spec.empty()) fail("blt eval: --data is required");
  if (seq_len < 1 || batch_size < 1 || max_batches < 0) fail("blt eval: --seq-len and --batch-size must be >= 1");
  const torch::Device device = device_option(device_name);
  auto model = train::load_checkpoint_model(checkpoint);
  model->to(device);
  auto patcher = model::load_checkpoint_patcher(checkpoint, model->config());
  if (!patcher && model->config().type == "blt")  // static or space patching: no entropy model
    patcher = std::make_shared<model::Patcher>(model->config().patching, nullptr);
  if (patcher) patcher->to(device);
  auto corpus = std::make_shared<const data::ShardSet>(data_spec, true);
  train::EvalOptions o;
  o.seq_len = seq_len;
  o.batch_size = batch_size;
  o.max_batches = max_batches;
  o.bf16 = device.is_cuda();
  if ((model->config().type == "token_lm") != !tokenizer.empty())
    fail("blt eval: --tokenizer is needed for a token_lm checkpoint and only for one");
  if (!tokenizer.empty()) o.tokenizer = std::make_shared<const data::Tokenizer>(tokenizer);
  dist::Comm single;
  const auto r = train::evaluate(*model, patcher.get(), corpus, o, single, device);
  const double unigram = data::compute_stats(*corpus).unigram_entropy_bits();
  if (json) {
    std::cout << nlohmann::json{{"bpb", r.sums.bits_per_byte()},
                                {"loss", r.sums.mean_loss()},
                                {"bytes", r.sums.bytes},
                                {"mean_patch", r.mean_patch_length()},
                                {"unigram_entropy_bits", unigram},
                                {"seconds", r.seconds}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << fmt::format("{}: {:.4f} bits/byte over {} bytes (loss {:.4f} nats/id{}); byte-unigram entropy {:.4f}\n",
                             data_spec, r.sums.bits_per_byte(), static_cast<int64_t>(r.sums.bytes), r.sums.mean_loss(),
                             r.patches > 0 ? fmt::format(", mean patch {:.2f} bytes", r.mean_patch_length()) : "",
                             unigram);
  }
  return 0;
}

}  // namespace blt::cli
