#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/core/error.h"
#include "blt/core/safetensors.h"
#include "blt/model/blt_model.h"
#include "blt/model/model_checkpoint.h"
#include "blt/model/patcher.h"
#include "blt/model/token_ids.h"

namespace blt::cli {
namespace {

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot read: {}", path, std::strerror(errno));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

torch::Tensor read_patch_lengths(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot read: {}", path, std::strerror(errno));
  std::vector<int64_t> lengths;
  std::string word;
  while (in >> word) {
    std::size_t used = 0;
    int64_t v = -1;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || v < 0) fail("{}: patch length {} is '{}', not a non-negative integer", path, lengths.size(), word);
    lengths.push_back(v);
  }
  if (lengths.empty()) fail("{}: no patch lengths", path);
  return torch::tensor(lengths, torch::kLong).unsqueeze(0);
}

}  // namespace

int model_logits(const Args& args) {
  std::string checkpoint, text_file, lengths_file, out;
  bool bos = false;
  ArgParser parser("model logits",
                   "Run a checkpoint on the bytes of a file and save tokens, logits (float32) and, for a BLT, the "
                   "patch lengths used (and the entropies when its patcher computed them) as safetensors.");
  parser.positional("CHECKPOINT", "model checkpoint directory", &checkpoint)
      .option("text-file", "input bytes (ids are byte + 4)", &text_file)
      .flag("bos", "prepend BOS (id 1)", &bos)
      .option("patch-lengths", "BLT: file of whitespace-separated patch lengths (default: the model's patcher)",
              &lengths_file)
      .option("out", "output .safetensors", &out);
  if (!parser.parse(args)) return 0;
  if (text_file.empty()) fail("model logits: --text-file is required");
  if (out.empty()) fail("model logits: --out is required");

  const std::string text = read_whole(text_file);
  std::vector<int64_t> ids;
  if (bos) ids.push_back(model::kBosId);
  for (unsigned char c : text) ids.push_back(static_cast<int64_t>(c) + model::kByteOffset);
  if (ids.empty()) fail("{}: empty input", text_file);
  const auto tokens = torch::tensor(ids, torch::kLong).unsqueeze(0);

  const auto config = model::read_checkpoint_config(checkpoint);
  auto model = model::load_model_checkpoint(checkpoint);
  model->eval();
  torch::NoGradGuard no_grad;
  std::vector<std::pair<std::string, torch::Tensor>> outputs{{"tokens", tokens}};
  model::ModelInput input{tokens, {}};
  if (config.type == "blt") {
    if (!lengths_file.empty()) {
      input.patch_lengths = read_patch_lengths(lengths_file);
    } else {
      auto patcher = model::load_checkpoint_patcher(checkpoint, config);
      if (patcher) outputs.emplace_back("entropies", patcher->entropies(tokens).to(torch::kFloat));
      else patcher = std::make_shared<model::Patcher>(config.patching, nullptr);
      input.patch_lengths = patcher->patch(tokens);
    }
  } else if (!lengths_file.empty()) {
    fail("model logits: --patch-lengths needs a blt checkpoint, {} is {}", checkpoint, config.type);
  }
  const auto logits = model->forward(input).to(torch::kFloat);
  outputs.emplace_back("logits", logits);
  if (config.type == "byte_lm") outputs.emplace_back("entropies", model::next_byte_entropy(logits));
  if (input.patch_lengths.defined()) outputs.emplace_back("patch_lengths", input.patch_lengths);
  safetensors::write(out, outputs, {{"checkpoint", checkpoint}});
  spdlog::info("{} positions -> {}", ids.size(), out);
  return 0;
}

}  // namespace blt::cli
