// blt export CKPT OUT [--format blt|hf] [--force] [--full-attention]
// OUT is written as a temporary sibling and renamed into place, so it is never
// seen half-written; an existing OUT is replaced only with --force, and only
// when everything in it is a model directory's files that blt writes.
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/core/error.h"
#include "blt/core/files.h"
#include "blt/core/safetensors.h"
#include "blt/model/hf_export.h"
#include "blt/model/model_checkpoint.h"
#include "blt/model/transformer_lm.h"
#include "blt/train/checkpoint_model.h"

namespace blt::cli {
namespace {

namespace fs = std::filesystem;

// Why `dir` is not a model directory written by blt (export, import, a run's
// OUT/model), or empty when it is one (or is empty): a native checkpoint
// (config.yaml) or an HF one (config.json of model_type blt), a readable
// model.safetensors, an imported entropy/ of the same kind, and nothing else.
std::string not_a_blt_model_dir(const fs::path& dir) {
  if (fs::is_symlink(dir) || !fs::is_directory(dir)) return "it is not a directory";
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  if (names.empty()) return {};
  static const std::set<std::string> ours{model::kCheckpointConfigFile, model::kCheckpointWeightsFile, "config.json",
                                          "entropy"};
  for (const auto& name : names)
    if (!ours.count(name)) return fmt::format("it holds '{}', which blt does not write", name);
  if (!names.count(model::kCheckpointWeightsFile)) return fmt::format("it has no {}", model::kCheckpointWeightsFile);
  try {
    safetensors::Reader weights((dir / model::kCheckpointWeightsFile).string());
    if (names.count(model::kCheckpointConfigFile)) {
      model::read_checkpoint_config(dir.string());
    } else if (names.count("config.json")) {
      std::ifstream in(dir / "config.json");
      const auto config = nlohmann::json::parse(in);
      if (config.value("model_type", "") != "blt") return "its config.json is not of model_type blt";
    } else {
      return "it has no config.yaml or config.json";
    }
  } catch (const std::exception& e) {
    return fmt::format("its files do not read as a blt model ({})", e.what());
  }
  if (names.count("entropy")) {
    const auto why = not_a_blt_model_dir(dir / "entropy");
    if (!why.empty()) return "entropy/: " + why;
  }
  return {};
}

// Runs `write(temp)` for a temporary sibling of `out`, then puts it in place of `out`.
template <class Write>
void write_directory(const fs::path& out, bool force, Write write) {
  if (fs::exists(fs::symlink_status(out))) {
    if (!force)
      fail("{}: already exists; pass --force to replace a model directory that blt wrote", out.string());
    const auto why = not_a_blt_model_dir(out);
    if (!why.empty()) fail("{}: not replaced, even with --force: {}", out.string(), why);
  }
  const auto parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  fs::create_directories(parent);
  const auto suffix = fmt::format(".tmp-{}", ::getpid());
  const fs::path temp = parent / (out.filename().string() + suffix);
  fs::remove_all(temp);
  try {
    write(temp.string());
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(temp, ignored);
    throw;
  }
  if (fs::exists(fs::symlink_status(out))) {
    const fs::path old = parent / (out.filename().string() + ".old" + suffix);
    fs::rename(out, old);
    fs::rename(temp, out);
    fs::remove_all(old);
  } else {
    fs::rename(temp, out);
  }
  sync_directory(parent.string());
}

}  // namespace

int export_checkpoint(const Args& args) {
  std::string checkpoint, out, format = "blt";
  bool force = false;
  model::HfExportOptions hf;
  ArgParser parser("export",
                   "Write the model of a checkpoint as one model directory.\n"
                   "CKPT is a training checkpoint directory (step-N, shards of any number of ranks) or a\n"
                   "model checkpoint. --format blt (default): config.yaml + model.safetensors.\n"
                   "--format hf: config.json + model.safetensors for transformers' BltForCausalLM\n"
                   "(the entropy model included as its patcher; docs/hf-layout.md).");
  parser.positional("CKPT", "checkpoint directory", &checkpoint)
      .positional("OUT", "output directory (must not exist)", &out)
      .option("format", "blt or hf", &format)
      .flag("force", "replace OUT if it is a model directory that blt wrote", &force)
      .flag("full-attention",
            "hf: export a model with a sliding window or document masks, which HF does not have "
            "(same logits only on text within the window and without EOS)",
            &hf.full_attention);
  if (!parser.parse(args)) return 0;
  if (format != "blt" && format != "hf") fail("--format is '{}': use blt or hf", format);
  if (!fs::is_directory(checkpoint)) fail("{}: no such checkpoint directory", checkpoint);

  // The config first, so that what the HF layout cannot express fails before any weights are read.
  const auto config = train::checkpoint_model_config(checkpoint);
  const auto entropy_dir = model::checkpoint_entropy_model_dir(checkpoint, config);
  if (format == "hf") {
    const auto entropy_config =
        entropy_dir.empty() ? std::optional<model::ModelConfig>() : model::read_checkpoint_config(entropy_dir);
    model::hf_config_from(config, entropy_config ? &*entropy_config : nullptr, hf);
  }
  const auto blt_model = train::load_checkpoint_model(checkpoint);
  write_directory(out, force, [&](const std::string& dir) {
    if (format == "blt") {
      model::save_model_checkpoint(dir, *blt_model);
    } else {
      const auto entropy = entropy_dir.empty() ? nullptr : model::load_entropy_model(entropy_dir, "entropy model");
      model::write_hf_checkpoint(dir, *blt_model, entropy.get(), hf);
    }
  });
  spdlog::info("exported {} -> {} ({} format)", checkpoint, out, format);
  return 0;
}

}  // namespace blt::cli
