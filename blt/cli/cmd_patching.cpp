#include <iostream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/cli/device_option.h"
#include "blt/core/error.h"
#include "blt/model/model_checkpoint.h"
#include "blt/model/patcher.h"
#include "blt/model/transformer_lm.h"
#include "blt/sweep/entropy_threshold.h"

namespace blt::cli {

// A trained entropy model's entropies depend on how well it learned, so the
// released threshold (1.335 nats, for the 100M entropy model) means little for
// another model. This picks the threshold that gives the wanted mean patch size.
int patching_threshold(const Args& args) {
  std::string checkpoint, data_spec, mode = "entropy", device_name = "auto", precision = "fp32";
  double mean_patch = 4.0;
  int64_t sequences = 32, seq_len = 1024, max_patch_length = 0, seed = 0;
  bool json = false;
  ArgParser parser("patching threshold",
                   "The entropy threshold at which an entropy model (a byte_lm checkpoint) cuts a sample\n"
                   "of shards into patches of the given mean size. Use it as model.patching.threshold.");
  parser.positional("CKPT", "entropy model checkpoint (byte_lm)", &checkpoint)
      .option("data", "shards to sample (directory, file or glob)", &data_spec)
      .option("mean-patch", "wanted mean patch size in bytes", &mean_patch)
      .option("mode", "entropy or entropy_monotonic", &mode)
      .option("max-patch-length", "as model.patching.max_patch_length; 0 = no cap", &max_patch_length)
      .option("precision", "as model.patching.entropy_precision: fp32 or bf16 (CUDA)", &precision)
      .option("sequences", "sequences in the sample", &sequences)
      .option("seq-len", "bytes per sampled sequence", &seq_len)
      .option("seed", "which sequences are sampled", &seed)
      .option("device", "auto, cpu or cuda", &device_name)
      .flag("json", "print the result as JSON", &json);
  if (!parser.parse(args)) return 0;
  if (data_spec.empty()) fail("blt patching threshold: --data is required");
  if (mode != "entropy" && mode != "entropy_monotonic")
    fail("blt patching threshold: --mode must be entropy or entropy_monotonic, got '{}'", mode);
  if (precision != "fp32" && precision != "bf16")
    fail("blt patching threshold: --precision must be fp32 or bf16, got '{}'", precision);
  if (mean_patch < 1.0) fail("blt patching threshold: --mean-patch must be >= 1, got {}", mean_patch);
  if (sequences < 1 || seq_len < 2) fail("blt patching threshold: --sequences must be >= 1 and --seq-len >= 2");
  const torch::Device device = device_option(device_name);

  auto entropy_model = model::load_entropy_model(checkpoint, "blt patching threshold: CKPT");
  entropy_model->to(device);
  sweep::ThresholdSample sample;
  sample.sequences = sequences;
  sample.seq_len = seq_len;
  sample.seed = static_cast<uint64_t>(seed);
  sample.mode = mode;
  sample.precision = precision;
  const auto [threshold, achieved] =
      sweep::search_threshold(entropy_model, data_spec, mean_patch, max_patch_length, sample, device);
  if (json)
    std::cout << nlohmann::json{{"threshold", threshold}, {"mean_patch", achieved}, {"mode", mode}}.dump(2) << "\n";
  else
    std::cout << fmt::format("{:.6f}\n", threshold);
  spdlog::info("{} threshold {:.6f} gives mean patch {:.3f} bytes on {} x {} sampled bytes (wanted {})", mode,
               threshold, achieved, sequences, seq_len, mean_patch);
  return 0;
}

}  // namespace blt::cli
