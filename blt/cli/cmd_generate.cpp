// `blt generate CKPT --prompt TEXT`: incremental generation from a blt or byte_lm
// checkpoint (model/generator.h). The new bytes go to stdout as they are chosen,
// with invalid UTF-8 replaced by U+FFFD (core/utf8.h); the speed report goes to
// stderr. The prompt must be UTF-8 text: the model reads bytes, but a prompt that
// is not UTF-8 is almost always the wrong file (UTF-16, binary), so it is refused.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "blt/cli/args.h"
#include "blt/cli/commands.h"
#include "blt/core/error.h"
#include "blt/core/torch_compat.h"
#include "blt/core/utf8.h"
#include "blt/model/blt_model.h"
#include "blt/model/generator.h"
#include "blt/model/patcher.h"
#include "blt/model/token_ids.h"
#include "blt/train/checkpoint_model.h"

namespace blt::cli {
namespace {

std::string read_prompt_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot read the prompt file", path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.empty()) fail("{}: the prompt file is empty", path);
  return text;
}

torch::Device generation_device(const std::string& name) {
  if (name != "auto" && name != "cpu" && name != "cuda") fail("--device must be auto, cpu or cuda, got '{}'", name);
  if (name == "cuda" && !torch::cuda::is_available()) fail("--device cuda: no CUDA device is available");
  const bool cpu = name == "cpu" || (name == "auto" && !torch::cuda::is_available());
  return cpu ? torch::Device(torch::kCPU) : torch::Device(torch::kCUDA, 0);
}

torch::ScalarType generation_dtype(const std::string& name) {
  if (name == "float32") return torch::kFloat;
  if (name == "bfloat16") return torch::kBFloat16;
  fail("--dtype must be float32 or bfloat16, got '{}'", name);
}

}  // namespace

int generate(const Args& args) {
  std::string checkpoint, prompt_file, device_name = "auto", dtype_name = "float32";
  std::vector<std::string> prompts;  // repeated-option form, so that an empty --prompt "" counts as given
  int64_t max_bytes = 256, top_k = 0, seed = 0;
  double temperature = 0.0, top_p = 1.0;
  ArgParser parser("generate",
                   "Continue a UTF-8 prompt with a blt or byte_lm checkpoint (model checkpoint or training step "
                   "directory), one byte at a time from cached state. New bytes go to stdout as they come (invalid "
                   "UTF-8 as U+FFFD); speed and patches to stderr. Stops at EOS or --max-bytes.");
  parser.positional("CHECKPOINT", "model checkpoint or training checkpoint step directory", &checkpoint)
      .repeated("prompt", "prompt text (UTF-8)", &prompts)
      .option("prompt-file", "file holding the prompt (UTF-8, not empty)", &prompt_file)
      .option("max-bytes", "new bytes at most (default 256)", &max_bytes)
      .option("temperature", "0 = greedy (default); > 0 samples from softmax(logits / T)", &temperature)
      .option("top-k", "sample among the k most likely ids (0 = all, default)", &top_k)
      .option("top-p", "sample among the most likely ids holding this probability, in (0, 1] (default 1)", &top_p)
      .option("seed", "sampling seed, >= 0 (default 0)", &seed)
      .option("device", "auto (default: CUDA when available), cpu or cuda", &device_name)
      .option("dtype", "float32 (default) or bfloat16 weights and activations", &dtype_name);
  if (!parser.parse(args)) return 0;
  if (prompts.size() + (prompt_file.empty() ? 0 : 1) != 1)
    fail("generate: give exactly one of --prompt (once) and --prompt-file");
  const std::string source = prompts.empty() ? prompt_file : std::string("--prompt");
  const std::string prompt = prompts.empty() ? read_prompt_file(prompt_file) : prompts[0];
  if (prompt.empty()) fail("generate: --prompt is empty");
  if (const auto bad = utf8_error_offset(prompt); bad != std::string::npos)
    fail("{}: not UTF-8 text: invalid byte 0x{:02x} at offset {}", source, static_cast<uint8_t>(prompt[bad]), bad);
  if (max_bytes <= 0) fail("--max-bytes must be positive, got {}", max_bytes);
  if (seed < 0) fail("--seed must be >= 0, got {}", seed);
  model::GenerationConfig config;
  config.max_bytes = max_bytes;
  config.sampling = {temperature, top_k, top_p, static_cast<uint64_t>(seed)};
  config.sampling.validate();
  const auto device = generation_device(device_name);
  const auto dtype = generation_dtype(dtype_name);

  auto model = train::load_checkpoint_model(checkpoint);
  model->to(device, dtype);
  model->eval();
  // The entropy model's weights stay float32 whatever --dtype says: its arithmetic is the one
  // training patched with (model.patching.entropy_precision, applied by the patcher), and a
  // threshold compared with entropies of another precision moves boundaries, i.e. other patches
  // than the model was trained on. It is small next to the model, so this costs little.
  if (auto blt = std::dynamic_pointer_cast<model::BltModel>(model); blt && blt->patcher()) {
    if (auto entropy = blt->patcher()->entropy_model()) entropy->to(device, torch::kFloat);
  }
  auto lm = model::incremental_lm(model);
  compat::avoid_per_shape_attention_kernels();

  std::vector<int64_t> ids{model::kBosId};
  for (unsigned char c : prompt) ids.push_back(static_cast<int64_t>(c) + model::kByteOffset);
  Utf8Sanitizer sanitizer;
  auto write = [](const std::string& s) {
    if (s.empty()) return;
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  };
  const auto result = model::generate(*lm, ids, config, [&](int64_t id) {
    write(sanitizer.push(static_cast<uint8_t>(id - model::kByteOffset)));
  });
  write(sanitizer.finish());

  const double n = static_cast<double>(result.ids.size());
  spdlog::info("generate: {} bytes in {:.2f} s ({:.1f} bytes/s) after a {}-byte prompt ({:.2f} s); stop: {}", result.ids.size(),
               result.seconds, result.seconds > 0 ? n / result.seconds : 0.0, prompt.size(), result.prompt_seconds,
               result.stop);
  if (model->config().type == "blt")
    spdlog::info("generate: {} patches completed over prompt and output ({} patching)", result.patches,
                 model->config().patching.mode);
  if (sanitizer.replacements() > 0)
    spdlog::info("generate: {} invalid UTF-8 sequences printed as U+FFFD", sanitizer.replacements());
  return 0;
}

}  // namespace blt::cli
