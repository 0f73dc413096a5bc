#include "blt/sweep/sweep_plan.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include <spdlog/spdlog.h>

#include "blt/core/error.h"
#include "blt/data/loader.h"
#include "blt/data/token_shards.h"
#include "blt/model/model_checkpoint.h"
#include "blt/model/parameter_count.h"
#include "blt/model/patcher.h"
#include "blt/model/transformer_lm.h"
#include "blt/sweep/entropy_threshold.h"
#include "blt/train/evaluate.h"
#include "blt/train/flops.h"

namespace blt::sweep {
namespace fs = std::filesystem;

namespace {

// Until the token shards exist, the bpe rows assume this many bytes per token
// (about what an 8K-32K BPE gets on English text); such rows are marked as estimates.
constexpr double kAssumedBytesPerToken = 4.0;

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Base config + a model file + overrides: `model.` overrides go to the model
// file, the others to the base (which must have no model: section of its own,
// so that no run silently mixes two shapes).
RunConfig compose(const std::string& base, const std::string& model_file, const std::vector<std::string>& overrides) {
  if (config::Document::load(base).root()["model"])
    fail("sweep base '{}' has a model: section; the sweep's sizes give the model, so leave it out", base);
  std::vector<std::string> model_overrides, base_overrides;
  for (const auto& o : overrides) (starts_with(o, "model.") ? model_overrides : base_overrides).push_back(o);
  RunConfig config = load_run_config(base, base_overrides);
  config.model = load_run_config(model_file, model_overrides).model;
  return config;
}

// 3e11 for 3.0e11 (no '+': run names are directory names and shell words).
std::string budget_label(double budget) {
  std::string s = fmt::format("{:.3g}", budget);
  s.erase(std::remove(s.begin(), s.end(), '+'), s.end());
  return s;
}

// Real patches per sequence in each of the run's first training batches.
std::vector<double> measure_patches(const RunConfig& config, const model::Patcher& patcher, int64_t batches,
                                    const torch::Device& device) {
  data::LoaderOptions o;
  o.seq_len = config.data.seq_len;
  o.batch_size = config.data.batch_size;
  o.seed = static_cast<uint64_t>(config.data.seed);
  data::Loader loader(std::make_shared<const data::ShardSet>(config.data.train, false), o);
  std::vector<double> per_batch;
  for (int64_t b = 0; b < batches; ++b)
    per_batch.push_back(train::prepare_batch(loader.next()->tokens, &patcher, device).real_patches() /
                        double(config.data.batch_size));
  return per_batch;
}

// Mean of the first `n` values (all of them when there are fewer).
double mean_of_first(const std::vector<double>& values, std::size_t n) {
  n = std::min(n, values.size());
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += values[i];
  return sum / double(n);
}

torch::Device plan_device() { return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::kCPU; }

}  // namespace

bool uses_patching(const SweepConfig& c, const std::string& patching) {
  for (const auto& s : c.schemes)
    if (s.patching == patching) return true;
  return false;
}

RunConfig entropy_run_config(const SweepConfig& c) {
  // The sweep's data/train overrides reach the entropy model too (it reads the same
  // data); its model overrides are the BLT's and do not.
  std::vector<std::string> overrides;
  for (const auto& o : c.set)
    if (!starts_with(o, "model.")) overrides.push_back(o);
  overrides.insert(overrides.end(), c.entropy_model.set.begin(), c.entropy_model.set.end());
  RunConfig config = compose(c.base, c.entropy_model.model, overrides);
  if (config.model.type != "byte_lm")
    fail("entropy_model.model '{}' is a {} model, not a byte_lm", c.entropy_model.model, config.model.type);
  config.model.validate();
  config.train.out_dir = SweepFiles(c).entropy_dir;
  config.train.steps = c.entropy_model.steps;
  config.train.flop_budget = 0;
  return config;
}

Plan make_plan(const SweepConfig& c, int world_size) {
  Plan plan;
  plan.sweep = c;
  const SweepFiles files(c);
  const auto device = plan_device();
  if (uses_patching(c, "entropy")) plan.entropy_run = entropy_run_config(c);
  const bool have_entropy_model = fs::exists(files.entropy_model);
  std::shared_ptr<model::TransformerLM> entropy_model;
  if (have_entropy_model) {
    entropy_model = model::load_entropy_model(files.entropy_model, "sweep entropy model");
    entropy_model->to(device);
  }
  const std::string token_train = files.tokens + "/train", token_valid = files.tokens + "/valid";
  // Bytes per token of the whole training text, once blt-tokenizer has encoded it.
  std::shared_ptr<const data::TokenTable> tokens;
  if (uses_patching(c, "bpe") && fs::exists(token_train + "/" + data::kTokenTableFile))
    tokens = data::read_token_table(data::ShardSet(token_train, false));

  std::map<double, double> thresholds;  // target mean patch -> threshold
  std::vector<double> budgets = c.flop_budgets;
  if (c.rule == "bytes_per_param") budgets = {0.0};
  for (const auto& size : c.sizes) {
    for (const auto& scheme : c.schemes) {
      const bool bpe = scheme.patching == "bpe";
      std::vector<std::string> overrides = c.set;
      overrides.insert(overrides.end(), size.set.begin(), size.set.end());
      overrides.insert(overrides.end(), scheme.set.begin(), scheme.set.end());
      RunConfig base = compose(c.base, bpe ? size.token : size.blt, overrides);
      auto& m = base.model;
      if (bpe != (m.type == "token_lm") || (!bpe && m.type != "blt"))
        fail("size '{}': scheme '{}' needs a {} model, but '{}' is {}", size.name, scheme.name,
             bpe ? "token_lm" : "blt", bpe ? size.token : size.blt, m.type);
      PlannedRun run;
      run.size = size.name;
      run.scheme = scheme.name;
      run.patching = scheme.patching;
      if (base.data.batch_size % world_size != 0)
        fail("sweep: data.batch_size {} is the global batch and must divide over {} processes", base.data.batch_size,
             world_size);
      run.positions_per_step = double(base.data.batch_size * base.train.grad_accum * base.data.seq_len);
      base.data.batch_size /= world_size;
      std::optional<model::ModelConfig> entropy_config;
      std::vector<double> batch_patches;  // BLT schemes, once measurable: patches per sequence of each sampled batch
      if (bpe) {
        m.vocab_size = c.tokenizer.vocab;
        const TokenSource source{base.data.train, base.data.valid};
        if (plan.token_source && (plan.token_source->train != source.train || plan.token_source->valid != source.valid))
          fail("sweep: the bpe runs read one tokenized corpus, but run {}-{} has data.train '{}' and data.valid '{}' "
               "where another has '{}' and '{}'",
               size.name, scheme.name, source.train, source.valid, plan.token_source->train, plan.token_source->valid);
        plan.token_source = source;
        base.data.train = token_train;
        if (!base.data.valid.empty()) base.data.valid = token_valid;
        run.bytes_per_position = tokens ? tokens->bytes_per_token() : kAssumedBytesPerToken;
        run.estimated = !tokens;
      } else {
        m.patching.mode = scheme.patching;
        m.patching.static_size = scheme.static_size;
        m.patching.entropy_model.clear();
        if (scheme.patching == "entropy") {
          entropy_config = plan.entropy_run->model;
          m.patching.entropy_model = files.entropy_model;
          if (have_entropy_model) {
            if (!thresholds.count(scheme.mean_patch))
              thresholds[scheme.mean_patch] =
                  pick_threshold(entropy_model, base.data.train, scheme.mean_patch, m.patching, device);
            m.patching.threshold = thresholds[scheme.mean_patch];
          }
        }
        m.validate();
        RunConfig global_batch = base;
        global_batch.data.batch_size *= world_size;
        if (scheme.patching == "entropy" && !have_entropy_model) {
          run.estimated = true;
        } else {
          const model::Patcher patcher(m.patching, scheme.patching == "entropy" ? entropy_model : nullptr);
          batch_patches = measure_patches(global_batch, patcher, c.patch_sample_batches, device);
        }
      }
      m.validate();
      run.parameters = model::total_parameters(model::parameter_counts_from_shapes(m));
      const double sequences = run.positions_per_step / double(base.data.seq_len);
      const double bytes_per_step = run.positions_per_step * run.bytes_per_position;
      const auto price = [&](PlannedRun& r, double patches_per_sequence) {
        r.patches_per_sequence = patches_per_sequence;
        r.flops_per_step = train::total(train::sequence_flops(m, base.data.seq_len, patches_per_sequence, true)) * sequences;
        r.inference_flops_per_byte =
            train::total(train::sequence_flops(m, base.data.seq_len, patches_per_sequence, false,
                                               entropy_config ? &*entropy_config : nullptr)) /
            (double(base.data.seq_len) * run.bytes_per_position);
      };
      const double sampled_patches = bpe ? 0.0
                                     : batch_patches.empty() ? double(base.data.seq_len) / scheme.mean_patch
                                                             : mean_of_first(batch_patches, batch_patches.size());
      price(run, sampled_patches);
      for (const double budget : budgets) {
        PlannedRun r = run;
        r.budget = budget;
        r.steps = c.rule == "flop_budget"
                      ? std::max<int64_t>(1, std::llround(budget / r.flops_per_step))
                      : std::max<int64_t>(1, std::llround(c.bytes_per_param * double(r.parameters) / bytes_per_step));
        // A run shorter than the sample trains on its first sampled batches only: price
        // those, so that the trainer's own FLOP count at the end matches the plan's.
        const auto trained_batches = static_cast<std::size_t>(r.steps * base.train.grad_accum);
        if (c.rule == "flop_budget" && trained_batches < batch_patches.size()) {
          price(r, mean_of_first(batch_patches, trained_batches));
          r.steps = std::max<int64_t>(1, std::llround(budget / r.flops_per_step));
        }
        r.train_flops = double(r.steps) * r.flops_per_step;
        r.train_bytes = double(r.steps) * bytes_per_step;
        r.name = c.rule == "flop_budget" ? fmt::format("{}-{}-{}", size.name, scheme.name, budget_label(budget))
                                         : fmt::format("{}-{}", size.name, scheme.name);
        r.dir = c.out_dir + "/runs/" + r.name;
        r.config = base;
        r.config.train.out_dir = r.dir;
        r.config.train.steps = r.steps;
        r.config.train.flop_budget = 0;  // the plan's steps are the run's length
        plan.runs.push_back(std::move(r));
      }
    }
  }
  return plan;
}

std::string format_plan(const Plan& plan) {
  std::string out = fmt::format("{:<28} {:>10} {:>9} {:>10} {:>9} {:>7} {:>10} {:>10} {:>10}\n", "run", "params",
                                "seq_len", "patch/tok", "B/pos", "steps", "bytes", "train FLOP", "inf FLOP/B");
  for (const auto& r : plan.runs) {
    const double unit = r.patching == "bpe" ? r.bytes_per_position
                                            : double(r.config.data.seq_len) / std::max(1.0, r.patches_per_sequence);
    out += fmt::format("{:<28} {:>9.3f}M {:>9} {:>9.2f}{} {:>9.2f} {:>7} {:>10.3e} {:>10.3e} {:>10.3e}\n", r.name,
                       r.parameters / 1e6, r.config.data.seq_len, unit, r.estimated ? "~" : " ", r.bytes_per_position,
                       r.steps, r.train_bytes, r.train_flops, r.inference_flops_per_byte);
  }
  if (plan.entropy_run)
    out += fmt::format("first: entropy model ({} steps of {}) in {}\n", plan.entropy_run->train.steps,
                       plan.sweep.entropy_model.model, plan.entropy_run->train.out_dir);
  for (const auto& r : plan.runs)
    if (r.estimated) {
      out += "~ estimated until the sweep has trained its entropy model / made its token shards (blt sweep run)\n";
      break;
    }
  return out;
}

}  // namespace blt::sweep
