#include <spdlog/spdlog.h>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/model/model_checkpoint.h"
#include "blt/train/checkpoint_model.h"

namespace blt::cli {

int export_checkpoint(const Args& args) {
  std::string checkpoint, out;
  ArgParser parser("export",
                   "Write the model of a checkpoint as one model checkpoint (config.yaml + model.safetensors).\n"
                   "CKPT is a training checkpoint directory (step-N, shards of any number of ranks) or a\n"
                   "model checkpoint.");
  parser.positional("CKPT", "checkpoint directory", &checkpoint).positional("OUT", "output directory", &out);
  if (!parser.parse(args)) return 0;
  const auto model = train::load_checkpoint_model(checkpoint);
  model::save_model_checkpoint(out, *model);
  spdlog::info("exported {} -> {}", checkpoint, out);
  return 0;
}

}  // namespace blt::cli
