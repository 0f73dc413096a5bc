// A sweep file: one base config and the axes whose product is the sweep's runs
// (model sizes x patching schemes x FLOP budgets), plus the rule that turns a
// run's budget into its step count. Read strictly (blt/config), paths relative
// to the sweep file. docs/sweeps.md describes every key.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "blt/config/yaml_config.h"

namespace blt::sweep {

// A model size: the BLT shape the BLT schemes use and the token LM shape the
// bpe scheme uses, each a config file with a model: section.
struct SizePreset {
  std::string name;
  std::string blt;
  std::string token;
  std::vector<std::string> set;  // overrides of this size's runs, e.g. model.global.layers=4

  template <class V>
  void visit(V& v) {
    using namespace blt::config;
    v.field("name", name, "size name (part of the run names)");
    v.field("blt", blt, "config file with the BLT model: section (entropy, space, static schemes)");
    v.field("token", token, "config file with the token_lm model: section (bpe scheme)");
    v.field("set", set, "--set overrides applied to this size's runs");
  }
};

// A line in the plots: how bytes become the model's positions.
struct Scheme {
  std::string name;
  std::string patching = "static";  // entropy | space | static | bpe
  int64_t static_size = 4;
  double mean_patch = 4.0;          // entropy: the threshold is picked to give this mean patch (bytes)
  std::vector<std::string> set;     // e.g. bpe: data.seq_len in tokens, to cover about as many bytes

  template <class V>
  void visit(V& v) {
    using namespace blt::config;
    v.field("name", name, "scheme name (part of the run names, one line per scheme in the plots)");
    v.field("patching", patching, "entropy, space, static or bpe (the token-LM baseline)",
            one_of({"entropy", "space", "static", "bpe"}));
    v.field("static_size", static_size, "static: bytes per patch", positive<int64_t>());
    v.field("mean_patch", mean_patch, "entropy: target mean patch size in bytes (sets the threshold)", at_least(1.0));
    v.field("set", set, "--set overrides applied to this scheme's runs (after the size's)");
  }
};

// The byte LM that drives entropy patching; the sweep trains it first.
struct EntropyModelSpec {
  std::string model;  // config file with a byte_lm model: section
  int64_t steps = 200;
  std::vector<std::string> set;

  template <class V>
  void visit(V& v) {
    using namespace blt::config;
    v.field("model", model, "config file with the byte_lm model: section (trained on the base's data and train)");
    v.field("steps", steps, "its training steps", positive<int64_t>());
    v.field("set", set, "--set overrides for its run");
  }
};

// The bpe scheme's tokenizer; the sweep trains it and encodes the corpus first (blt-tokenizer).
struct TokenizerSpec {
  int64_t vocab = 8192;
  int64_t sample_mb = 20;

  template <class V>
  void visit(V& v) {
    using namespace blt::config;
    v.field("vocab", vocab, "vocabulary size; also the token LM's model.vocab_size", at_least<int64_t>(262));
    v.field("sample_mb", sample_mb, "MB of training text the tokenizer is trained on", positive<int64_t>());
  }
};

struct SweepConfig {
  std::string out_dir;
  std::string base;
  std::vector<std::string> set;
  std::string rule = "flop_budget";
  std::vector<double> flop_budgets;
  double bytes_per_param = 20;
  int64_t patch_sample_batches = 8;
  std::vector<SizePreset> sizes;  // `sizes:`, a list of SizePreset mappings (read by load_sweep_config)
  std::vector<Scheme> schemes;    // `schemes:`, a list of Scheme mappings
  EntropyModelSpec entropy_model;
  TokenizerSpec tokenizer;

  template <class V>
  void visit(V& v) {
    using namespace blt::config;
    v.field("out_dir", out_dir, "the sweep's directory: one run directory per run, the CSV and the plots");
    v.field("base", base, "run config without a model: section (data, train, dist) shared by every run");
    v.field("set", set, "--set overrides applied to every run");
    v.field("rule", rule, "flop_budget: steps from each budget; bytes_per_param: training bytes = ratio x parameters",
            one_of({"flop_budget", "bytes_per_param"}));
    v.field("flop_budgets", flop_budgets, "rule flop_budget: training FLOPs of each run (one run per budget)");
    v.field("bytes_per_param", bytes_per_param, "rule bytes_per_param: training bytes per model parameter",
            positive<double>());
    v.field("patch_sample_batches", patch_sample_batches,
            "training batches the plan patches to measure patches per sequence", positive<int64_t>());
    v.field("entropy_model", entropy_model, "the entropy model of the entropy schemes");
    v.field("tokenizer", tokenizer, "the tokenizer of the bpe scheme");
  }
};

// Reads `path` strictly and resolves the file paths in it against its directory;
// checks the facts that span keys (names unique, budgets given for the rule).
SweepConfig load_sweep_config(const std::string& path, const std::vector<std::string>& overrides = {});

}  // namespace blt::sweep
