#include <filesystem>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/config/run_config.h"
#include "blt/core/error.h"
#include "blt/model/model_checkpoint.h"
#include "blt/train/flops.h"

namespace blt::cli {
namespace {

// An entropy model given as a checkpoint directory or as a YAML config.
model::ModelConfig entropy_model_config(const std::string& path) {
  model::ModelConfig config = std::filesystem::is_directory(path) ? model::read_checkpoint_config(path)
                                                                  : load_run_config(path).model;
  config.validate();
  if (config.type != "byte_lm") fail("--entropy-model '{}' is a {} model, not a byte_lm", path, config.type);
  return config;
}

}  // namespace

int flops(const Args& args) {
  std::string path, entropy_model_path;
  std::vector<std::string> overrides;
  int64_t seq_len = 0;
  double patch_size = 4.5, bytes_per_token = 4.4;
  bool json = false;
  ArgParser parser("flops",
                   "FLOPs per byte of a model config, by component, for training (forward + backward) and for\n"
                   "inference (forward), as counted in docs/flops.md. A BLT's global model runs once per patch,\n"
                   "so its cost per byte depends on the mean patch size; a token LM's per-token cost is divided\n"
                   "by the bytes per token of its tokenizer.");
  parser.positional("CONFIG", "YAML config with a model: section", &path)
      .repeated("set", "override a key: --set model.global.layers=4", &overrides)
      .option("seq-len", "positions per sequence (bytes, or tokens for token_lm); default data.seq_len", &seq_len)
      .option("patch-size", "BLT: mean bytes per patch", &patch_size)
      .option("bytes-per-token", "token_lm: mean bytes per token of its tokenizer", &bytes_per_token)
      .option("entropy-model", "BLT: entropy model (checkpoint dir or config) counted at inference", &entropy_model_path)
      .flag("json", "print JSON", &json);
  if (!parser.parse(args)) return 0;
  const RunConfig run = load_run_config(path, overrides);
  const model::ModelConfig& config = run.model;
  config.validate();
  if (seq_len == 0) seq_len = run.data.seq_len;
  if (seq_len < 2) fail("blt flops: --seq-len must be >= 2, got {}", seq_len);
  if (patch_size < 1) fail("blt flops: --patch-size must be >= 1, got {}", patch_size);
  if (bytes_per_token <= 0) fail("blt flops: --bytes-per-token must be > 0, got {}", bytes_per_token);
  const bool is_blt = config.type == "blt";
  if (!entropy_model_path.empty() && !is_blt) fail("blt flops: --entropy-model applies to blt models only");

  std::optional<model::ModelConfig> entropy_model;
  if (!entropy_model_path.empty()) entropy_model = entropy_model_config(entropy_model_path);
  const double positions = double(seq_len);
  const double patches = positions / patch_size;
  // Bytes covered by one sequence: a token LM's positions are tokens.
  const double bytes = config.type == "token_lm" ? positions * bytes_per_token : positions;
  const auto training = train::sequence_flops(config, seq_len, patches, true);
  // The entropy model is not trained with the BLT; it costs FLOPs when it patches at inference.
  const auto inference = train::sequence_flops(config, seq_len, patches, false, entropy_model ? &*entropy_model : nullptr);

  const auto per_byte = [&](const std::vector<train::FlopComponent>& parts) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& c : parts) out[c.name] = c.flops / bytes;
    out["total"] = train::total(parts) / bytes;
    return out;
  };
  nlohmann::json result = {{"model_type", config.type},
                           {"seq_len", seq_len},
                           {"train_per_byte", per_byte(training)},
                           {"inference_per_byte", per_byte(inference)}};
  if (is_blt) result["patch_size"] = patch_size;
  if (config.type == "token_lm") {
    result["bytes_per_token"] = bytes_per_token;
    result["train_per_token"] = train::total(training) / positions;
    result["inference_per_token"] = train::total(inference) / positions;
  }
  if (json) {
    std::cout << result.dump(2) << "\n";
    return 0;
  }

  std::cout << fmt::format("{} model, {} {} per sequence", config.type, seq_len,
                           config.type == "token_lm" ? "tokens" : "bytes");
  if (is_blt) std::cout << fmt::format(", mean patch {} bytes", patch_size);
  if (config.type == "token_lm") std::cout << fmt::format(", {} bytes per token", bytes_per_token);
  std::cout << "\n" << fmt::format("  {:<24} {:>14} {:>14}\n", "FLOPs per byte", "training", "inference");
  const double train_total = train::total(training);
  for (const auto& c : inference) {
    double train_flops = 0;
    for (const auto& t : training)
      if (t.name == c.name) train_flops = t.flops;
    std::cout << fmt::format("  {:<24} {:>14.4e} {:>14.4e}  ({:4.1f}% of training)\n", c.name, train_flops / bytes,
                             c.flops / bytes, 100 * train_flops / train_total);
  }
  std::cout << fmt::format("  {:<24} {:>14.4e} {:>14.4e}\n", "total", train_total / bytes,
                           train::total(inference) / bytes);
  if (config.type == "token_lm")
    std::cout << fmt::format("  per token: training {:.4e}, inference {:.4e}\n", train_total / positions,
                             train::total(inference) / positions);
  return 0;
}

}  // namespace blt::cli
