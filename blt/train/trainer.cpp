#include "blt/train/trainer.h"

#include <cmath>
#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "blt/core/error.h"
#include "blt/core/files.h"
#include "blt/core/log.h"
#include "blt/core/progress.h"
#include "blt/core/safetensors.h"
#include "blt/core/torch_compat.h"
#include "blt/data/corpus_stats.h"
#include "blt/data/loader.h"
#include "blt/kernels/fused_ops.h"
#include "blt/model/blt_model.h"
#include "blt/model/graphed_call.h"
#include "blt/model/model_checkpoint.h"
#include "blt/model/transformer_lm.h"
#include "blt/parallel/param_update.h"
#include "blt/train/batch_ahead.h"
#include "blt/train/checkpoint_model.h"
#include "blt/train/checkpoint_store.h"
#include "blt/train/config_agreement.h"
#include "blt/train/flops.h"
#include "blt/train/lr_schedule.h"
#include "blt/train/metrics_log.h"
#include "blt/train/run_dir_lock.h"

namespace blt::train {
namespace fs = std::filesystem;

namespace {

constexpr const char* kRngFile = "rng.safetensors";
constexpr const char* kTrainerStateFile = "trainer.json";

// This rank's device, made the current one before anything allocates or
// communicates: GPU LOCAL_RANK of the visible ones (with CUDA_VISIBLE_DEVICES
// narrowed to one GPU per rank, that GPU).
torch::Device pick_device(const std::string& wanted, int local_rank) {
  const bool cuda = torch::cuda::is_available();
  if (wanted == "cuda" && !cuda) fail("train.device is cuda, but no CUDA device is available");
  if (wanted == "cpu" || (wanted == "auto" && !cuda)) return torch::kCPU;
  const torch::Device device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % torch::cuda::device_count()));
  compat::set_current_device(device);  // before the model, the process group or anything else allocates
  return device;
}

bool use_bf16(const std::string& precision, const torch::Device& device) {
  if (precision == "bf16" && !device.is_cuda()) fail("train.precision bf16 needs a CUDA device; use fp32 on CPU");
  return precision == "bf16" || (precision == "auto" && device.is_cuda());
}

// The patcher of a BLT config (null for other model types); entropy modes load
// the byte LM named by model.patching.entropy_model onto `device`.
std::shared_ptr<model::Patcher> make_patcher(const model::ModelConfig& c, const torch::Device& device) {
  if (c.type != "blt") return nullptr;
  std::shared_ptr<model::TransformerLM> entropy_model;
  if (c.patching.mode == "entropy" || c.patching.mode == "entropy_monotonic") {
    if (c.patching.entropy_model.empty())
      fail("model.patching.mode is {} but model.patching.entropy_model is empty: train a byte_lm first "
           "(docs/training.md) or use static/space patching",
           c.patching.mode);
    entropy_model = model::load_entropy_model(c.patching.entropy_model, "model.patching.entropy_model");
    entropy_model->to(device);
  }
  return std::make_shared<model::Patcher>(c.patching, entropy_model);
}

// Mean patches per sequence, measured on the first training batch (for FLOP budgets).
double patches_per_sequence(const RunConfig& config, const model::Patcher* patcher,
                            std::shared_ptr<const data::ShardSet> corpus, const torch::Device& device) {
  if (!patcher) return 0;
  data::LoaderOptions o;
  o.seq_len = config.data.seq_len;
  o.batch_size = config.data.batch_size;
  o.seed = static_cast<uint64_t>(config.data.seed);
  data::Loader loader(std::move(corpus), o);
  const auto batch = prepare_batch(loader.next()->tokens, patcher, device);
  return batch.real_patches() / double(config.data.batch_size);
}

torch::Tensor cpu_rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_cpu_rng_state(const torch::Tensor& state) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// Testing aid for crash safety: with BLT_FAULT_KILL_IN_CHECKPOINT=STEP the process
// kills itself (SIGKILL) while checkpoint STEP is half-written.
void maybe_die_in_checkpoint(int64_t step) {
  const char* at = std::getenv("BLT_FAULT_KILL_IN_CHECKPOINT");
  if (at && std::to_string(step) == at) std::raise(SIGKILL);
}

// Saved model checkpoints resolve a relative entropy_model against their own
// directory; a run's is relative to where it was started, so pin it down.
RunConfig with_absolute_entropy_model(RunConfig config) {
  auto& path = config.model.patching.entropy_model;
  if (!path.empty()) path = fs::absolute(path).lexically_normal().string();
  return config;
}

struct Counters {
  int64_t step = 0;
  double flops = 0, bytes = 0, patches = 0, seconds = 0;
};

class Run {
 public:
  Run(const RunConfig& config, const parallel::LaunchEnv& env, const TrainOptions& options);
  TrainOutcome go();

 private:
  void enable_cuda_graphs();
  void resume_if_possible();
  void save_checkpoint();
  EvalResult run_eval(int64_t max_batches);
  void log_eval(const EvalResult& r);

  // Marks a phase's end on the step timer, if there is one.
  void end(Phase phase) {
    if (timer_) timer_->end(phase);
  }

  RunConfig config_;
  TrainOptions options_;
  torch::Device device_;
  std::unique_ptr<StepTimer> timer_;  // with options_.time_steps
  parallel::Comm comm_;
  std::unique_ptr<RunDirLock> out_dir_lock_;  // held by the main rank while the run lives
  bool bf16_;
  std::shared_ptr<model::CausalLM> model_;
  std::shared_ptr<model::Patcher> patcher_;
  torch::Tensor bytes_per_id_;  // token LMs: bytes each target id stands for
  std::unique_ptr<parallel::ParamUpdate> update_;
  std::shared_ptr<const data::ShardSet> train_corpus_;
  std::shared_ptr<const data::ShardSet> valid_corpus_;  // null without data.valid
  std::unique_ptr<data::Loader> loader_;
  std::unique_ptr<BatchAhead> batches_;  // from loader_
  CheckpointStore store_;
  std::unique_ptr<MetricsLog> metrics_;
  Counters counters_;
  int64_t total_steps_ = 0;
};

Run::Run(const RunConfig& config, const parallel::LaunchEnv& env, const TrainOptions& options)
    : config_(with_absolute_entropy_model(config)),
      options_(options),
      device_(pick_device(config.train.device, env.local_rank)),
      comm_(env.world_size > 1 ? parallel::Comm(env, device_, std::chrono::seconds(config.dist.timeout_s)) : parallel::Comm()),
      bf16_(use_bf16(config.train.precision, device_)),
      store_(config.train.out_dir + "/checkpoints") {
  const auto& out = config_.train.out_dir;
  // Before anything touches out_dir, and before the first collective whose
  // shapes follow from the config.
  check_ranks_agree_on_config(config::to_yaml(config_), comm_);
  out_dir_lock_ = lock_run_dir(out, comm_);
  LogOptions log;
  log.rank = comm_.rank();
  log.world_size = comm_.world_size();
  log.dir = out + "/logs";
  init_logging(log);
  if (comm_.is_main()) {
    fs::create_directories(out);
    write_file_atomic(out + "/config.yaml", config::to_yaml(config_));
  }

  kernels::set_fused_mode(config_.train.fused_kernels ? kernels::FusedMode::kAuto : kernels::FusedMode::kNever);
  // Patch counts that change every batch give attention a new sequence length every step, and
  // cuDNN's attention builds a graph per length (docs/perf.md, "Patching that varies per batch").
  if (config_.model.type == "blt" && config_.model.patching.mode != "static") compat::avoid_per_shape_attention_kernels();
  torch::manual_seed(static_cast<uint64_t>(config_.train.seed));
  // On a GPU the model is made and initialised there (no host draws or copies of its parameters:
  // most of a blt-1b run's start, docs/model.md); on the CPU it is the seeded model every earlier
  // CPU run trained.
  model_ = device_.is_cpu() ? model::build_model(config_.model) : model::build_model_on(config_.model, device_);
  model_->to(device_);
  // fp64 exists for verification: rounding differences (e.g. of gradient sums
  // taken in another order by several ranks) shrink from ~1e-7 to ~1e-16.
  if (config_.train.precision == "fp64") model_->to(torch::kDouble);
  model_->train();
  model_->set_activation_checkpointing(config_.train.activation_checkpointing);
  if (config_.train.cuda_graphs) enable_cuda_graphs();
  if (config_.train.optimizer.table_moments != "float32" && !config_.train.optimizer.sparse_hash_rows)
    fail("train.optimizer.table_moments: {} needs train.optimizer.sparse_hash_rows: true (only the row-sparse update "
         "stores moments in another dtype than the tables')",
         config_.train.optimizer.table_moments);
  if (config_.train.optimizer.sparse_hash_rows) {
    auto* blt = dynamic_cast<model::BltModel*>(model_.get());
    if (!blt || !blt->encoder_hash_tok_embedding)
      fail("train.optimizer.sparse_hash_rows: the model has no hash n-gram tables (model.type blt with model.hash)");
    // The rows a step skipped catch up before they are read (train/adamw_rows.h), so sparse and
    // dense updates give the same values; every strategy takes the table this way (parallel/hash_rows.h).
    blt->set_sparse_hash_gradients(true);
  }
  patcher_ = make_patcher(config_.model, device_);
  if (auto* blt = dynamic_cast<model::BltModel*>(model_.get())) blt->set_patcher(patcher_);
  if (options_.time_steps) timer_ = std::make_unique<StepTimer>(device_);

  // Under bf16 autocast the update writes the linear weights' bf16 copies (model/linear.h).
  update_ = parallel::make_param_update(config_.dist, *model_, comm_, config_.train.optimizer,
                                        bf16_ ? c10::optional<torch::ScalarType>(torch::kBFloat16) : c10::nullopt);

  train_corpus_ = std::make_shared<const data::ShardSet>(config_.data.train, config_.data.verify_checksums);
  data::LoaderOptions lo;
  lo.seq_len = config_.data.seq_len;
  lo.batch_size = config_.data.batch_size;
  lo.seed = static_cast<uint64_t>(config_.data.seed);
  lo.rank = comm_.rank();
  lo.world_size = comm_.world_size();
  lo.workers = static_cast<int>(config_.data.workers);
  lo.prefetch = static_cast<int>(config_.data.prefetch);
  loader_ = std::make_unique<data::Loader>(train_corpus_, lo);
  // Opened and validated now, so that a bad data.valid stops the run before training, not after it.
  if (!config_.data.valid.empty())
    valid_corpus_ = std::make_shared<const data::ShardSet>(config_.data.valid, config_.data.verify_checksums);
  // Token shards (token_lm): the loss prices each target at the bytes its id stands for.
  const auto train_table = loader_->stream().token_table();
  check_shards_fit_model(config_.model, train_table.get(), config_.data.train);
  bytes_per_id_ = bytes_per_id_tensor(train_table.get(), device_);
  if (valid_corpus_) {
    const auto valid_table = data::read_token_table(*valid_corpus_);
    check_shards_fit_model(config_.model, valid_table.get(), config_.data.valid);
    if (train_table && valid_table->bytes_per_id != train_table->bytes_per_id)
      fail("data.train '{}' and data.valid '{}' come from different tokenizers ({} and {})", config_.data.train,
           config_.data.valid, train_table->tokenizer, valid_table->tokenizer);
  }

  total_steps_ = config_.train.steps;
  if (config_.train.flop_budget > 0) {
    const double per_sequence_patches = patches_per_sequence(config_, patcher_.get(), train_corpus_, device_);
    const double per_step = total(sequence_flops(config_.model, config_.data.seq_len, per_sequence_patches, true)) *
                            double(comm_.world_size() * config_.train.grad_accum * config_.data.batch_size);
    total_steps_ = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(config_.train.flop_budget / per_step)));
    spdlog::info("flop budget {:.3e} at {:.3e} FLOPs/step -> {} steps", config_.train.flop_budget, per_step, total_steps_);
  }
  resume_if_possible();
  batches_ = std::make_unique<BatchAhead>(*loader_, patcher_.get(), device_, timer_.get());
  metrics_ = std::make_unique<MetricsLog>(comm_.is_main() ? out + "/metrics.jsonl" : "", counters_.step);
}

// A graph replays one set of shapes and addresses (model/graphed_call.h): the global model's
// length must not change from batch to batch, and its parameters must stay where they are.
void Run::enable_cuda_graphs() {
  const auto& c = config_;
  if (!device_.is_cuda() || !model::cuda_graphs_built())
    fail("train.cuda_graphs: needs a CUDA device and a blt built with CUDA (this run: {})", device_.str());
  if (c.model.type != "blt")
    fail("train.cuda_graphs: only model.type blt has a part to capture (its global transformer), not {}", c.model.type);
  if (c.model.patching.mode != "static")
    fail("train.cuda_graphs: needs model.patching.mode static (a graph replays one patch count; {} patching changes "
         "it every batch)",
         c.model.patching.mode);
  if (c.dist.strategy != "ddp")
    fail("train.cuda_graphs: needs dist.strategy ddp ({} gathers and frees the global model's parameters inside its "
         "forward)",
         c.dist.strategy);
  if (c.train.activation_checkpointing)
    fail("train.cuda_graphs: not with train.activation_checkpointing (capturing the recomputation in backward "
         "is not supported)");
  model_->set_cuda_graphs(true);
}

void Run::resume_if_possible() {
  if (comm_.is_main()) store_.remove_incomplete();
  comm_.barrier();
  const auto latest = store_.latest();
  if (!latest) return;
  const std::string& dir = *latest;
  update_->load(dir);
  {
    const safetensors::Reader reader(dir + "/" + kRngFile);
    set_cpu_rng_state(reader.load("cpu"));
  }
  const auto state = nlohmann::json::parse(read_text_file(dir + "/" + kTrainerStateFile));
  counters_.step = state.at("step").get<int64_t>();
  counters_.flops = state.at("flops").get<double>();
  counters_.bytes = state.at("bytes").get<double>();
  counters_.patches = state.at("patches").get<double>();
  counters_.seconds = state.at("seconds").get<double>();
  loader_->restore(data::LoaderState::from_json(state.at("loader").get<std::string>()));
  spdlog::info("resumed from {} at step {} (saved by {} ranks, now {})", dir, counters_.step,
               state.at("world_size").get<int>(), comm_.world_size());
}

void Run::save_checkpoint() {
  const int64_t step = counters_.step;
  const std::string dir = store_.staging_dir(step);
  if (comm_.is_main()) store_.begin(step);
  comm_.barrier();  // the staging directory exists
  update_->save(dir);
  if (comm_.is_main()) {
    write_file_atomic(dir + "/" + kRunConfigFile, config::to_yaml(config_));
    maybe_die_in_checkpoint(step);
    safetensors::write(dir + "/" + kRngFile, std::vector<std::pair<std::string, torch::Tensor>>{{"cpu", cpu_rng_state()}});
    const nlohmann::json trainer = {{"step", step},
                                    {"flops", counters_.flops},
                                    {"bytes", counters_.bytes},
                                    {"patches", counters_.patches},
                                    {"seconds", counters_.seconds},
                                    {"world_size", comm_.world_size()},
                                    {"loader", batches_->loader_state().to_json()}};
    write_file_atomic(dir + "/" + kTrainerStateFile, trainer.dump(2));
  }
  comm_.barrier();  // every rank's shard is in place
  if (comm_.is_main()) {
    const std::string published = store_.publish(step, config_.train.keep_checkpoints);
    spdlog::info("checkpoint {}", published);
  }
  comm_.barrier();
}

EvalResult Run::run_eval(int64_t max_batches) {
  EvalOptions o;
  o.seq_len = config_.data.seq_len;
  o.batch_size = config_.data.batch_size;
  o.max_batches = max_batches;
  o.bf16 = bf16_;
  // The strategy keeps what a forward pass reads ready between steps (ParamUpdate); hash rows
  // behind the current step catch up as they are looked up.
  return evaluate(*model_, patcher_.get(), valid_corpus_, o, comm_, device_);
}

void Run::log_eval(const EvalResult& r) {
  spdlog::info("validation at step {}: bpb {:.4f}, loss {:.4f} nats/id, {} bytes{}{} ({:.1f} s)", counters_.step,
               r.sums.bits_per_byte(), r.sums.mean_loss(), static_cast<int64_t>(r.sums.bytes),
               r.patches > 0 ? fmt::format(", mean patch {:.2f} bytes", r.mean_patch_length()) : "",
               r.bytes_per_token > 0 ? fmt::format(", {:.3f} bytes/token", r.bytes_per_token) : "", r.seconds);
  nlohmann::json record = {{"step", counters_.step},
                           {"valid_bpb", r.sums.bits_per_byte()},
                           {"valid_loss", r.sums.mean_loss()},
                           {"valid_bytes", r.sums.bytes},
                           {"valid_mean_patch", r.mean_patch_length()}};
  if (r.bytes_per_token > 0) record["valid_bytes_per_token"] = r.bytes_per_token;
  metrics_->write(record);
}

TrainOutcome Run::go() {
  const auto& t = config_.train;
  const int64_t world = comm_.world_size();
  const double targets_per_step = double(world * t.grad_accum * config_.data.batch_size * config_.data.seq_len);
  const double peak_flops = device_.is_cuda() ? t.peak_tflops * 1e12 * world : 0.0;
  spdlog::info("training {} ({:.2f} M parameters) on {} x {}{}, {} steps of {} sequences x {} ids",
               config_.model.type, model::count_parameters(*model_) / 1e6, world, device_.str(),
               bf16_ ? " (bf16 autocast)" : "", total_steps_, world * t.grad_accum * config_.data.batch_size,
               config_.data.seq_len);
  TrainOutcome outcome;
  auto window_start = std::chrono::steady_clock::now();
  double window_bytes = 0, window_patches = 0, window_flops = 0;
  int64_t window_steps = 0;
  // Steps whose numbers (loss sums, bytes, patches: float64 on the device, summed over ranks) the
  // host has not read yet. They are read together where the run logs, evaluates or saves, so
  // that no step waits for the device.
  struct Unread {
    int64_t step;
    torch::Tensor stats;
    int timed;  // the step timer's index of the step, or -1
  };
  std::vector<Unread> unread;
  LossSums last_sums;
  const double sequences = double(world * t.grad_accum * config_.data.batch_size);
  const auto settle = [&] {
    if (unread.empty()) return;
    std::vector<torch::Tensor> all;
    for (const auto& u : unread) all.push_back(u.stats);
    const auto host = torch::stack(all).cpu();
    for (std::size_t i = 0; i < unread.size(); ++i) {
      const auto [sums, patches] = BatchTotals::read(host[static_cast<int64_t>(i)]);
      if (!std::isfinite(sums.mean_loss()))
        fail("step {}: the training loss is {} (not finite); that step's update and every later one were skipped, "
             "so the parameters are those of the step before, and nothing since was saved: lower "
             "train.optimizer.lr or check the data",
             unread[i].step, sums.mean_loss());
      const double step_flops =
          total(sequence_flops(config_.model, config_.data.seq_len, patches / sequences, true)) * sequences;
      counters_.flops += step_flops;
      counters_.bytes += sums.bytes;
      counters_.patches += patches;
      window_flops += step_flops, window_bytes += sums.bytes, window_patches += patches;
      if (timer_) timer_->count(unread[i].timed, sums.bytes, patches, step_flops);
      last_sums = sums;
    }
    unread.clear();
  };
  while (counters_.step < total_steps_) {
    const double lr = learning_rate(counters_.step, total_steps_, t.optimizer.lr, t.optimizer.warmup_steps,
                                    t.optimizer.min_lr_ratio);
    if (options_.before_step) options_.before_step(counters_.step + 1);
    auto stats = BatchTotals::zeros(device_);
    if (timer_) timer_->begin_step();
    for (int64_t micro = 0; micro < t.grad_accum; ++micro) {
      const auto batch = batches_->next();
      end(Phase::Data);
      torch::Tensor logits;
      {
        compat::CudaAutocast autocast(bf16_, at::kBFloat16);
        logits = model_->forward(batch.input);
      }
      auto loss = token_loss(logits, batch.targets, bytes_per_id_);
      end(Phase::Forward);
      if (micro + 1 == t.grad_accum) update_->before_last_backward();
      (loss.loss_sum / targets_per_step).backward();
      end(Phase::Backward);
      BatchTotals::add(stats, loss, batch);
    }
    // The step's global numbers, summed over ranks on the device. A non-finite loss halts this
    // update and every later one there, as a non-finite gradient norm does
    // (ParamUpdate::first_nonfinite_step); the run stops at its next log, evaluation or
    // checkpoint, before any of them, with the parameters of the last good step.
    comm_.all_reduce_sum_(stats);
    update_->halt_next_step_if(torch::isfinite(stats[0]).logical_not());
    update_->sum_gradients();
    if (timer_) timer_->mark("update/gradient sum");
    const auto grad_norm = update_->step(lr, t.optimizer.grad_clip);  // on the device: read where it is logged
    end(Phase::Update);
    ++counters_.step;
    ++window_steps;
    unread.push_back({counters_.step, stats, timer_ ? timer_->end_step() : -1});

    const bool last = counters_.step == total_steps_;
    const bool log_now = counters_.step % t.log_every == 0 || last;
    const bool eval_now = valid_corpus_ && t.eval_every > 0 && counters_.step % t.eval_every == 0 && !last;
    const bool save_now = t.checkpoint_every > 0 && (counters_.step % t.checkpoint_every == 0 || last);
    if (log_now || eval_now || save_now) {
      settle();
      if (const int64_t bad = update_->first_nonfinite_step(); bad > 0)
        fail("the global gradient norm of optimizer step {} is not finite; that update and every later one were "
             "skipped, so the parameters are those of the step before, and nothing since was saved: lower "
             "train.optimizer.lr or check the data",
             bad);
    }
    if (log_now) {
      const double norm = grad_norm.item<double>();
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
      counters_.seconds += seconds;
      const double flops_per_s = window_flops / seconds;
      const double eta = seconds / window_steps * double(total_steps_ - counters_.step);
      std::string speed = fmt::format("{}/s", human_bytes(window_bytes / seconds));
      if (window_patches > 0)
        speed += fmt::format(" | {:.0f} patches/s | patch {:.2f} B", window_patches / seconds, window_bytes / window_patches);
      std::string utilisation = peak_flops > 0 ? fmt::format("MFU {:.1f}%", 100 * flops_per_s / peak_flops)
                                               : fmt::format("{:.3g} FLOP/s", flops_per_s);
      // Peak CUDA memory of this rank so far (what decides whether a shape fits).
      const double peak_gib = device_.is_cuda() ? double(compat::peak_memory_bytes(device_.index())) / (1 << 30) : 0.0;
      if (device_.is_cuda()) utilisation += fmt::format(" | mem {:.1f} GiB", peak_gib);
      spdlog::info("step {}/{} | loss {:.4f} | bpb {:.4f} | lr {:.3e} | gnorm {:.3f} | {} | {} | ETA {}", counters_.step,
                   total_steps_, last_sums.mean_loss(), last_sums.bits_per_byte(), lr, norm, speed, utilisation,
                   human_duration(eta));
      nlohmann::json record = {{"step", counters_.step},       {"loss", last_sums.mean_loss()},
                               {"bpb", last_sums.bits_per_byte()},  {"lr", lr},
                               {"grad_norm", norm},       {"bytes_per_s", window_bytes / seconds},
                               {"flops_per_s", flops_per_s},   {"flops_total", counters_.flops},
                               {"bytes_total", counters_.bytes}, {"elapsed_s", counters_.seconds}};
      if (window_patches > 0) {
        record["patches_per_s"] = window_patches / seconds;
        record["mean_patch"] = window_bytes / window_patches;
      }
      if (peak_flops > 0) record["mfu"] = flops_per_s / peak_flops;
      if (device_.is_cuda()) record["peak_memory_gib"] = peak_gib;
      metrics_->write(record);
      window_start = std::chrono::steady_clock::now();
      window_flops = window_bytes = window_patches = 0;
      window_steps = 0;
    }
    if (eval_now) log_eval(run_eval(t.eval_batches));
    if (save_now) save_checkpoint();
  }
  outcome.last_loss = last_sums.mean_loss();
  outcome.steps = counters_.step;
  if (timer_) {
    outcome.step_timings = timer_->report();
    outcome.device = device_;
    outcome.peak_memory_bytes = device_.is_cuda() ? compat::peak_memory_bytes(device_.index()) : 0;
    outcome.peak_flops = peak_flops;
  }
  update_->with_whole_params([&] {
    if (!comm_.is_main() || !options_.save_final_model) return;
    // At a stable path (e.g. for model.patching.entropy_model).
    const std::string final_dir = config_.train.out_dir + "/model";
    fs::remove_all(final_dir + ".tmp");
    model::save_model_checkpoint(final_dir + ".tmp", *model_);
    fs::remove_all(final_dir);
    fs::rename(final_dir + ".tmp", final_dir);
    spdlog::info("final model: {}", final_dir);
  });
  comm_.barrier();
  if (valid_corpus_) {
    outcome.valid = run_eval(0);
    log_eval(*outcome.valid);
  }
  return outcome;
}

}  // namespace

TrainOutcome train(const RunConfig& config, const parallel::LaunchEnv& env, const TrainOptions& options) {
  Run run(config, env, options);
  return run.go();
}

}  // namespace blt::train
