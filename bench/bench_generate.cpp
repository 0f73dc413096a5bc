// Incremental generation speed (bytes/s) of a randomly initialised BLT, for each
// patcher, through the same path as `blt generate` (model/generator.h).
//   bench_generate [--config configs/model/small.yaml] [--entropy-config configs/model/entropy-tiny.yaml]
//                  [--bytes 256] [--device cpu|cuda] [--dtype fp32|bf16] [--mean-patch 4.5] [--set key=value]...
// Random weights make output bytes (and so entropies) arbitrary; the entropy
// threshold is set so that patches on the prompt average --mean-patch bytes,
// and EOS is never chosen (greedy over byte ids only), so every run produces
// --bytes bytes. Prompt filling is timed separately.
#include <fmt/format.h>

#include <iostream>
#include <limits>
#include <optional>

#include "blt/cli/args.h"
#include "blt/config/run_config.h"
#include "blt/core/cpu_runtime.h"
#include "blt/core/error.h"
#include "blt/core/torch_compat.h"
#include "blt/model/blt_inference.h"
#include "blt/model/blt_model.h"
#include "blt/model/generator.h"
#include "blt/model/patcher.h"
#include "blt/model/token_ids.h"
#include "blt/model/transformer_lm.h"

namespace {

const char* kPrompt = "The Byte Latent Transformer reads raw bytes instead of tokens. A small entropy model decides where";

struct Options {
  std::string config = "configs/model/small.yaml", entropy_config = "configs/model/entropy-tiny.yaml";
  std::vector<std::string> overrides;
  int64_t bytes = 256;
  double mean_patch = 4.5;
  std::string device = "cpu", dtype = "fp32";
};

// Options from the command line through the project's parser (blt/cli/args.h);
// std::nullopt after --help.
std::optional<Options> parse(int argc, char** argv) {
  Options o;
  blt::cli::ArgParser parser("bench_generate",
                             "Generation speed of blt's cached, incrementally patched path on random weights\n"
                             "(see the header of bench/bench_generate.cpp).");
  parser.option("config", "model config of the BLT", &o.config)
      .option("entropy-config", "model config of the entropy model", &o.entropy_config)
      .option("bytes", "new bytes to generate", &o.bytes)
      .option("mean-patch", "mean patch size the entropy threshold is set for", &o.mean_patch)
      .option("device", "cpu or cuda", &o.device)
      .option("dtype", "fp32 or bf16", &o.dtype)
      .repeated("set", "override a model config key: --set a.b=value", &o.overrides);
  if (!parser.parse(std::vector<std::string>(argv + 1, argv + argc))) return std::nullopt;
  return o;
}

// Greedy over the byte ids: an incremental LM whose logits never pick a special id.
class BytesOnly : public blt::model::IncrementalLM {
 public:
  explicit BytesOnly(blt::model::IncrementalLM& inner) : inner_(inner) {}
  torch::Tensor push(int64_t id) override {
    auto logits = inner_.push(id).clone();
    logits.narrow(0, 0, blt::model::kByteOffset).fill_(-std::numeric_limits<double>::infinity());
    return logits;
  }
  bool full() const override { return inner_.full(); }
  int64_t patches() const override { return inner_.patches(); }

 private:
  blt::model::IncrementalLM& inner_;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace blt::model;
  blt::setup_cpu_runtime(argv);
  try {
    const auto parsed = parse(argc, argv);
    if (!parsed) return 0;
    const auto& o = *parsed;
    const torch::Device device(o.device == "cuda" ? torch::kCUDA : torch::kCPU);
    const auto dtype = o.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat;
    std::vector<int64_t> prompt{kBosId};
    for (unsigned char c : std::string(kPrompt)) prompt.push_back(static_cast<int64_t>(c) + kByteOffset);

    std::cout << fmt::format("building {} and {} with random weights on the CPU, then moving them to {}\n", o.config,
                             o.entropy_config, o.device)
              << std::flush;  // a blt-1b takes a while: say what it waits for
    torch::manual_seed(0);
    auto entropy = std::static_pointer_cast<TransformerLM>(build_model(blt::load_run_config(o.entropy_config).model));
    entropy->to(device, torch::kFloat);  // float32 entropies whatever --dtype, as `blt generate` does
    entropy->eval();
    auto config = blt::load_run_config(o.config, o.overrides).model;
    if (config.type != "blt") blt::fail("{}: bench_generate times a blt model, this is {}", o.config, config.type);
    auto model = std::static_pointer_cast<BltModel>(build_model(config));
    model->to(device, dtype);
    model->eval();
    const auto entropies = Patcher(config.patching, entropy).entropies(torch::tensor(prompt).view({1, -1}).to(device));
    const auto calibrated = threshold_for_mean_patch_size({entropies[0].to(torch::kCPU, torch::kDouble)}, o.mean_patch,
                                                          "entropy", config.patching.max_patch_length);
    std::cout << fmt::format("{} ({} parameters), entropy model {}; {} {}, {} threads; prompt {} bytes, {} new bytes\n",
                             o.config, count_parameters(*model), o.entropy_config, o.device, o.dtype,
                             torch::get_num_threads(), prompt.size() - 1, o.bytes);
    // `passes` generations with the model patched by `mode`; the result of the last.
    const auto run = [&](const std::string& mode, int passes) {
      auto patching = config.patching;
      patching.mode = mode;
      patching.threshold = calibrated.threshold;
      GenerationConfig gen;
      gen.max_bytes = o.bytes;
      GenerationResult r;
      for (int pass = 0; pass < passes; ++pass) {  // fresh caches each time, on the same weights
        BltIncremental inner(model, mode == "entropy" ? entropy : nullptr, patching);
        BytesOnly lm(inner);
        r = generate(lm, prompt, gen);
      }
      return r;
    };
    blt::compat::avoid_per_shape_attention_kernels();
    for (const std::string mode : {"static", "space", "entropy"}) {
      // The first mode runs once untimed before: the CUDA context, library handles and per-shape
      // kernel choices are start-up costs, not generation speed (a first bf16 run was 4x slower).
      const auto r = run(mode, mode == "static" ? 2 : 1);
      const double bytes_fed = static_cast<double>(prompt.size() + r.ids.size() - 1);
      std::cout << fmt::format("  {:<8} {:7.1f} bytes/s  ({} bytes in {:.2f} s; prompt {:.2f} s = {:.1f} bytes/s; "
                               "{} patches, {:.2f} bytes/patch)\n",
                               mode, static_cast<double>(r.ids.size()) / r.seconds, r.ids.size(), r.seconds,
                               r.prompt_seconds, static_cast<double>(prompt.size()) / r.prompt_seconds, r.patches,
                               bytes_fed / static_cast<double>(std::max<int64_t>(1, r.patches)));
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_generate: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
