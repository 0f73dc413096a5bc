// Times forward+backward of a model config and reports peak GPU memory.
//   bench_model_step CONFIG [--seq-len 8192] [--batch 1] [--dtype bf16|fp32] [--steps 5]
//                    [--warmup 2] [--patch-size 4] [--device cuda|cpu] [--checkpointing] [--set key=value]...
// Peak memory: the CUDA allocator's peak on GPU; on CPU the process's peak resident set.
// BLT inputs use static patch lengths (one-byte first patch, then --patch-size bytes),
// so the global transformer sees about seq_len / patch_size patches.
#include <sys/resource.h>

#include <chrono>
#include <iostream>

#include "blt/core/cpu_runtime.h"
#include "blt/config/run_config.h"
#include "blt/core/error.h"
#include "blt/core/torch_compat.h"
#include "blt/model/causal_lm.h"
#include "blt/model/patcher.h"
#include "blt/model/token_ids.h"

namespace {

struct Options {
  std::string config;
  std::vector<std::string> overrides;
  int64_t seq_len = 8192, batch = 1, steps = 5, warmup = 2, patch_size = 4;
  std::string dtype = "bf16", device = "cuda";
  bool checkpointing = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) blt::fail("{} needs a value", a);
      return argv[++i];
    };
    if (a == "--seq-len") o.seq_len = std::stoll(value());
    else if (a == "--batch") o.batch = std::stoll(value());
    else if (a == "--steps") o.steps = std::stoll(value());
    else if (a == "--warmup") o.warmup = std::stoll(value());
    else if (a == "--patch-size") o.patch_size = std::stoll(value());
    else if (a == "--dtype") o.dtype = value();
    else if (a == "--device") o.device = value();
    else if (a == "--checkpointing") o.checkpointing = true;
    else if (a == "--set") o.overrides.push_back(value());
    else if (o.config.empty()) o.config = a;
    else blt::fail("unexpected argument '{}'", a);
  }
  if (o.config.empty()) blt::fail("usage: bench_model_step CONFIG [--seq-len N] [--batch N] [--dtype bf16|fp32] ...");
  return o;
}

int64_t peak_memory_bytes(const torch::Device& device, int device_index) {
  if (device.is_cuda()) return blt::compat::peak_memory_bytes(device_index);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

}  // namespace

int main(int argc, char** argv) {
  blt::setup_cpu_runtime(argv);
  try {
    const Options o = parse(argc, argv);
    const auto config = blt::load_run_config(o.config, o.overrides).model;
    const torch::Device device(o.device);
    auto model = blt::model::build_model(config);
    const auto dtype = o.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat;
    model->to(device, dtype);
    model->train();
    model->set_activation_checkpointing(o.checkpointing);
    const int64_t vocab = config.vocab_size;
    auto tokens = torch::randint(4, std::min<int64_t>(vocab, 260), {o.batch, o.seq_len + 1},
                                 torch::TensorOptions().dtype(torch::kLong).device(device));
    auto inputs = tokens.narrow(1, 0, o.seq_len), targets = tokens.narrow(1, 1, o.seq_len);
    blt::model::ModelInput input{inputs, {}};
    if (config.type == "blt") {
      // As the trainer does (train::prepare_batch): the documents from the host's tokens.
      input.documents = blt::model::document_spans(inputs.cpu(), blt::model::kEosId, device);
      blt::model::PatchingConfig patching;
      patching.mode = "static";
      patching.static_size = o.patch_size;
      input.patch_lengths = blt::model::Patcher(patching, nullptr).patch(inputs);
    }
    const int device_index = device.is_cuda() ? device.index() < 0 ? 0 : device.index() : 0;
    double total_ms = 0;
    for (int64_t step = 0; step < o.warmup + o.steps; ++step) {
      if (step == o.warmup && device.is_cuda()) blt::compat::reset_peak_memory(device_index);
      synchronize(device);
      const auto start = std::chrono::steady_clock::now();
      model->zero_grad();
      auto logits = model->forward(input);
      auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, vocab}).to(torch::kFloat), targets.reshape({-1}));
      loss.backward();
      synchronize(device);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (step >= o.warmup) total_ms += ms;
      std::cout << fmt::format("step {} loss {:.4f} {:.1f} ms\n", step, loss.item<double>(), ms);
    }
    const double mean_ms = total_ms / static_cast<double>(std::max<int64_t>(1, o.steps));
    std::cout << fmt::format(
        "config {} type {} params {} dtype {} device {} batch {} seq_len {} patches {} mean step {:.1f} ms "
        "({:.0f} bytes/s) peak memory {:.2f} GiB{}\n",
        o.config, config.type, blt::model::count_parameters(*model), o.dtype, o.device, o.batch, o.seq_len,
        input.patch_lengths.defined() ? input.patch_lengths.size(1) : 0, mean_ms,
        1000.0 * static_cast<double>(o.batch * o.seq_len) / mean_ms,
        static_cast<double>(peak_memory_bytes(device, device_index)) / (1024.0 * 1024.0 * 1024.0),
        o.checkpointing ? " (activation checkpointing)" : "");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_model_step: " << e.what() << "\n";
    return 1;
  }
}
