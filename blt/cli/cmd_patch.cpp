// `blt patch`: where an entropy model's patches fall in a text, for people to look at.
#include <unistd.h>

#include <cmath>
#include <iostream>
#include <limits>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/cli/device_option.h"
#include "blt/core/error.h"
#include "blt/core/files.h"
#include "blt/eval/patch_view.h"
#include "blt/model/model_checkpoint.h"
#include "blt/model/patcher.h"
#include "blt/model/transformer_lm.h"

namespace blt::cli {

int patch(const Args& args) {
  std::string text, file, checkpoint, html_path, mode = "entropy", color = "auto", device_name = "auto";
  double threshold = std::numeric_limits<double>::quiet_NaN(), mean_patch = 0;
  int64_t max_patch_length = 0;
  bool entropies = false, json = false;
  ArgParser parser("patch",
                   "Where an entropy model (a byte_lm checkpoint) puts patch boundaries in a text, read after\n"
                   "BOS as in training: in the terminal (patches in alternating colours, or separated by '|'\n"
                   "when not coloured), as a per-byte entropy table, as JSON, or as an HTML page with each\n"
                   "character coloured by the entropy of its prediction. The threshold is --threshold, or the\n"
                   "one giving --mean-patch bytes per patch on this text (default: mean patch 4).");
  parser.positional("TEXT", "the text (or give --file)", &text, /*required=*/false)
      .option("file", "read the text from this file", &file)
      .option("entropy-model", "entropy model checkpoint (byte_lm)", &checkpoint)
      .option("threshold", "patching threshold in nats", &threshold)
      .option("mean-patch", "choose the threshold giving this mean patch size on the text", &mean_patch)
      .option("mode", "entropy or entropy_monotonic", &mode)
      .option("max-patch-length", "as model.patching.max_patch_length; 0 = no cap", &max_patch_length)
      .option("html", "also write an HTML page to this file", &html_path)
      .option("color", "auto (when stdout is a terminal), always or never", &color)
      .option("device", "auto, cpu or cuda", &device_name)
      .flag("entropies", "print a table of every byte's entropy instead of the coloured text", &entropies)
      .flag("json", "print patch lengths and entropies as JSON", &json);
  if (!parser.parse(args)) return 0;
  if (text.empty() == file.empty()) fail("blt patch: give the text either as TEXT or as --file FILE");
  if (checkpoint.empty()) fail("blt patch: --entropy-model CKPT is required");
  if (mode != "entropy" && mode != "entropy_monotonic")
    fail("blt patch: --mode must be entropy or entropy_monotonic, got '{}'", mode);
  if (color != "auto" && color != "always" && color != "never")
    fail("blt patch: --color must be auto, always or never, got '{}'", color);
  const bool have_threshold = !std::isnan(threshold);
  if (have_threshold && mean_patch > 0) fail("blt patch: give --threshold or --mean-patch, not both");
  if (!have_threshold && mean_patch == 0) mean_patch = 4.0;
  if (!have_threshold && mean_patch < 1.0) fail("blt patch: --mean-patch must be >= 1, got {}", mean_patch);
  if (!file.empty()) {
    text = read_text_file(file);
    if (text.empty()) fail("blt patch: {} is empty", file);
  }

  auto entropy_model = model::load_entropy_model(checkpoint, "blt patch: --entropy-model");
  entropy_model->to(device_option(device_name));
  model::PatchingConfig patching;
  patching.mode = mode;
  patching.max_patch_length = max_patch_length;
  if (!have_threshold) {
    // The threshold search runs on this text's own entropies.
    const auto probe = eval::view_patches(model::Patcher(patching, entropy_model), text);
    threshold = model::threshold_for_mean_patch_size({torch::tensor(probe.entropies, torch::kDouble)}, mean_patch, mode,
                                                     max_patch_length)
                    .threshold;
  }
  (mode == "entropy" ? patching.threshold : patching.monotonic_threshold) = threshold;
  const auto view = eval::view_patches(model::Patcher(patching, entropy_model), text);

  if (!html_path.empty()) {
    write_file_atomic(html_path, eval::render_html(view, checkpoint));
    spdlog::info("wrote {} ({} patches over {} bytes)", html_path, view.patch_lengths.size(), view.text.size());
  }
  if (json) std::cout << eval::patch_view_json(view).dump(2) << "\n";
  else if (entropies) std::cout << eval::render_entropy_table(view);
  else std::cout << eval::render_terminal(view, color == "always" || (color == "auto" && ::isatty(STDOUT_FILENO)));
  return 0;
}

}  // namespace blt::cli
