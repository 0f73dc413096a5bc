// Shared pieces of the end-to-end training tests: a small learnable corpus,
// run configs over it, and the per-step losses a run wrote.
#pragma once
#include <nlohmann/json.hpp>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "blt/core/safetensors.h"
#include "blt/data/shard_writer.h"
#include "helpers.h"

namespace blt::test {

// English-like documents from a small vocabulary: learnable in a few steps.
inline void write_corpus(const std::string& dir) {
  const std::vector<std::string> words = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and",
                                          "a",   "cat",   "sat",   "on",  "mat",   "with", "hat",  "of",  "red"};
  uint64_t x = 99;
  const auto next = [&] { return (x = x * 6364136223846793005ull + 1442695040888963407ull) >> 33; };
  for (const char* split : {"train", "valid"}) {
    blt::data::ShardSetWriter w(dir + "/" + split, 1 << 20);
    const int docs = std::string(split) == "train" ? 300 : 20;
    for (int d = 0; d < docs; ++d) {
      std::string doc;
      const int n = 10 + int(next() % 40);
      for (int i = 0; i < n; ++i) doc += words[next() % words.size()] + (i + 1 < n ? " " : ".");
      w.add(doc);
    }
    w.finish();
  }
}

// DIR/NAME.yaml: MODEL_PRESET on DIR/corpus, out_dir DIR/runs/NAME, then the `extra` YAML lines.
inline std::string config_file(const TempDir& dir, const std::string& name, const std::string& model_preset,
                               const std::string& extra) {
  const std::string path = dir / (name + ".yaml");
  write_file(path, "include: [" + source_path("configs/model/" + model_preset + ".yaml") + "]\n" +
                       "data:\n  train: " + (dir / "corpus/train") + "\n  valid: " + (dir / "corpus/valid") +
                       "\n  seq_len: 64\n  batch_size: 4\n"
                       "train:\n  out_dir: " + (dir / ("runs/" + name)) +
                       "\n  device: cpu\n  log_every: 1\n  checkpoint_every: 2\n"
                       "  optimizer: {lr: 3.0e-3, warmup_steps: 2}\n" + extra);
  return path;
}

// step -> loss text as written (exact decimal form of the double).
inline std::map<int64_t, std::vector<std::string>> losses(const std::string& metrics_path) {
  std::map<int64_t, std::vector<std::string>> out;
  std::istringstream in(read_file(metrics_path));
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("loss")) out[j.at("step").get<int64_t>()].push_back(j.at("loss").dump());
  }
  return out;
}

// Largest absolute difference between the final models of two runs (same tensor names).
inline double max_param_diff(const std::string& run_a, const std::string& run_b) {
  const blt::safetensors::Reader a(run_a + "/model/model.safetensors"), b(run_b + "/model/model.safetensors");
  REQUIRE(a.tensors().size() == b.tensors().size());
  double worst = 0;
  for (const auto& info : a.tensors())
    worst = std::max(worst, (a.load(info.name) - b.load(info.name)).abs().max().item<double>());
  return worst;
}

}  // namespace blt::test
