#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/model/hf_import.h"

namespace blt::cli {

int import_hf(const Args& args) {
  std::string hf_dir, out_dir;
  ArgParser parser("import",
                   "Convert a Hugging Face BltForCausalLM checkpoint (config.json + safetensors) into a blt "
                   "checkpoint directory; its patcher becomes OUT/entropy.");
  parser.positional("HF_DIR", "directory written by save_pretrained", &hf_dir)
      .positional("OUT", "blt checkpoint directory to write", &out_dir);
  if (!parser.parse(args)) return 0;
  model::import_hf_checkpoint(hf_dir, out_dir);
  return 0;
}

}  // namespace blt::cli
