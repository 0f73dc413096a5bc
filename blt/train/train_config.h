// How a model is trained: run length, optimiser, schedule, precision,
// checkpoints, evaluation, logging (spec section 4 gives the defaults).
#pragma once
#include <cstdint>
#include <string>

#include "blt/config/yaml_config.h"

namespace blt::train {

struct OptimizerConfig {
  double lr = 4e-4;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
  int64_t warmup_steps = 2000;
  double min_lr_ratio = 0.01;
  double grad_clip = 1.0;
  bool sparse_hash_rows = false;
  std::string table_moments = "float32";

  template <class V>
  void visit(V& v) {
    using namespace blt::config;
    v.field("lr", lr, "peak learning rate", positive<double>());
    v.field("beta1", beta1, "AdamW beta1", in_range(0.0, 0.9999999));
    v.field("beta2", beta2, "AdamW beta2", in_range(0.0, 0.9999999));
    v.field("eps", eps, "AdamW epsilon", positive<double>());
    v.field("weight_decay", weight_decay, "decoupled weight decay (matrices only)", at_least(0.0));
    v.field("warmup_steps", warmup_steps, "linear warmup steps", at_least<int64_t>(0));
    v.field("min_lr_ratio", min_lr_ratio, "cosine decays to this fraction of the peak", in_range(0.0, 1.0));
    v.field("grad_clip", grad_clip, "clip the global gradient norm to this; 0 = off", at_least(0.0));
    v.field("sparse_hash_rows", sparse_hash_rows,
            "blt: the hash n-gram tables get row-sparse gradients; AdamW updates the rows a step used and "
            "runs the steps a row missed when it is next read (dense AdamW's values at the cost of the rows "
            "used; under every dist.strategy the tables then stay whole on every rank); false = dense gradients "
            "and updates (docs/perf.md)");
    v.field("table_moments", table_moments,
            "blt with sparse_hash_rows: the dtype the hash tables' AdamW moments are stored in "
            "(bfloat16 halves their memory, 12.3 GB for blt-1b; the arithmetic stays float32; docs/perf.md)",
            one_of({"float32", "bfloat16"}));
  }
};

struct TrainConfig {
  std::string out_dir = "runs/default";
  int64_t steps = 1000;
  double flop_budget = 0;  // > 0: steps are derived from it
  int64_t grad_accum = 1;
  int64_t seed = 0;
  std::string device = "auto";
  std::string precision = "auto";
  bool activation_checkpointing = false;
  bool fused_kernels = true;
  bool cuda_graphs = false;
  OptimizerConfig optimizer;
  int64_t log_every = 10;
  int64_t eval_every = 0;
  int64_t eval_batches = 0;
  int64_t checkpoint_every = 500;
  int64_t keep_checkpoints = 2;
  double peak_tflops = 989.0;

  template <class V>
  void visit(V& v) {
    using namespace blt::config;
    v.field("out_dir", out_dir, "run directory: checkpoints, metrics.jsonl, config.yaml, logs");
    v.field("steps", steps, "optimizer steps (ignored when flop_budget > 0)", at_least<int64_t>(0));
    v.field("flop_budget", flop_budget, "training FLOPs; > 0 derives the step count from it", at_least(0.0));
    v.field("grad_accum", grad_accum, "micro-batches per optimizer step", in_range<int64_t>(1, 1 << 16));
    v.field("seed", seed, "seed of initialisation", at_least<int64_t>(0));
    v.field("device", device, "auto (cuda:LOCAL_RANK if available, else cpu), cpu or cuda", one_of({"auto", "cpu", "cuda"}));
    v.field("precision", precision,
            "auto (bf16 autocast on CUDA, fp32 on CPU), fp32, bf16, or fp64 (weights, optimizer and loss in float64: "
            "for verification, e.g. that ranks match one process to rounding)",
            one_of({"auto", "fp32", "bf16", "fp64"}));
    v.field("activation_checkpointing", activation_checkpointing, "recompute each block in backward to save memory");
    v.field("cuda_graphs", cuda_graphs,
            "blt on CUDA: replay the global transformer's forward and backward from two CUDA graphs instead of "
            "launching its ~10 kernels per layer one by one: for models whose step waits for the host "
            "(blt-400m; docs/perf.md). Needs static patching, dist.strategy ddp and no activation checkpointing");
    v.field("fused_kernels", fused_kernels,
            "CUDA kernels for RMSNorm, SwiGLU and RoPE (docs/kernels.md); false = LibTorch's operator-by-operator "
            "reference path (to compare, or to rule the kernels out)");
    v.field("optimizer", optimizer, "AdamW and its schedule");
    v.field("log_every", log_every, "steps between progress lines and metrics.jsonl records", at_least<int64_t>(1));
    v.field("eval_every", eval_every, "steps between validation runs; 0 = only at the end", at_least<int64_t>(0));
    v.field("eval_batches", eval_batches, "validation batches per run; 0 = the whole validation set", at_least<int64_t>(0));
    v.field("checkpoint_every", checkpoint_every, "steps between checkpoints (and one at the end); 0 = none (benchmarks)",
            at_least<int64_t>(0));
    v.field("keep_checkpoints", keep_checkpoints, "checkpoints kept on disk", at_least<int64_t>(1));
    v.field("peak_tflops", peak_tflops, "device's dense bf16 peak per GPU for MFU (H100 SXM: 989)", positive<double>());
  }
};

}  // namespace blt::train
