// `blt`: one executable, one subcommand per job. Errors end as one log line and exit code 1.
#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "blt/cli/commands.h"
#include "blt/core/cpu_runtime.h"
#include "blt/core/error.h"
#include "blt/core/log.h"

namespace {

struct Command {
  const char* name;  // one or two words
  const char* summary;
  int (*run)(const blt::cli::Args&);
};

const Command kCommands[] = {
    {"preprocess", "turn text, directories, JSON lines (optionally gzip'd) into byte shards", blt::cli::preprocess},
    {"data stats", "documents, bytes, byte entropy and script mix of shards", blt::cli::data_stats},
    {"train", "train a model (one process, or many under torchrun / scripts/launch.sh); resumes", blt::cli::train},
    {"bench", "time a config's training steps: bytes/s, MFU, peak memory, time by phase", blt::cli::bench},
    {"eval", "bits per byte on held-out shards, under character noise; character-level tasks", blt::cli::eval},
    {"export", "write a checkpoint's model as one model directory (blt or Hugging Face format)", blt::cli::export_checkpoint},
    {"generate", "continue a prompt with a blt or byte_lm checkpoint (cached, incremental patching)", blt::cli::generate},
    {"config show", "print a fully resolved config (includes and --set applied)", blt::cli::config_show},
    {"model info", "parameter counts per component of a model config", blt::cli::model_info},
    {"model logits", "save a checkpoint's logits on the bytes of a file (parity checks)", blt::cli::model_logits},
    {"patching threshold", "entropy threshold giving a wanted mean patch size for an entropy model", blt::cli::patching_threshold},
    {"patch", "where an entropy model's patches fall in a text (terminal colours, HTML page)", blt::cli::patch},
    {"sweep plan", "every run of a scaling sweep with its shapes, steps and FLOPs", blt::cli::sweep_plan},
    {"sweep run", "train a sweep's runs one after another; skips finished runs, resumes the others", blt::cli::sweep_run},
    {"sweep report", "a sweep's CSV and plots (bits/byte against training and inference FLOPs)", blt::cli::sweep_report},
    {"flops", "FLOPs per byte by component, for training and inference", blt::cli::flops},
    {"import", "convert a Hugging Face BltForCausalLM checkpoint into a blt checkpoint", blt::cli::import_hf},
    {"safetensors info", "validate a .safetensors file and list its tensors", blt::cli::safetensors_info},
    {"safetensors copy", "read a .safetensors file and write it again (format cross-checks)", blt::cli::safetensors_copy},
};

void print_help() {
  std::cout << "usage: blt <command> [arguments] [--help]\n\nByte Latent Transformer training framework.\n\n"
               "commands:\n";
  for (const auto& c : kCommands) std::cout << fmt::format("  {:<14} {}\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  blt::setup_cpu_runtime(argv);
  blt::init_logging({});
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_help();
    return args.empty() ? 1 : 0;
  }
  const Command* chosen = nullptr;
  std::size_t words = 0;
  for (const auto& c : kCommands) {
    const std::string name = c.name;
    if (args.size() >= 2 && name == args[0] + " " + args[1]) { chosen = &c; words = 2; break; }
    if (name == args[0]) { chosen = &c; words = 1; }
  }
  if (!chosen) {
    std::cerr << "blt: unknown command '" << args[0] << "'\n\n";
    print_help();
    return 1;
  }
  try {
    return chosen->run(std::vector<std::string>(args.begin() + words, args.end()));
  } catch (const blt::Error& e) {
    spdlog::error("{}", e.what());
  } catch (const c10::Error& e) {
    spdlog::error("torch: {}", e.what_without_backtrace());
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
  }
  return 1;
}
