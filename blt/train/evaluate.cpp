#include "blt/train/evaluate.h"

#include <chrono>

#include "blt/core/error.h"
#include "blt/data/byte_ids.h"
#include "blt/data/loader.h"

namespace blt::train {

PendingBatch queue_batch(const torch::Tensor& tokens, const model::Patcher* patcher, const torch::Device& device) {
  PendingBatch p;
  StepBatch& b = p.batch;
  const auto on_device = tokens.to(device, /*non_blocking=*/true);
  const int64_t L = on_device.size(1) - 1;
  const auto inputs = on_device.narrow(1, 0, L);
  b.input.tokens = inputs.clamp_min(data::kBoeId);
  // Padding (-1) is no EOS: the host's inputs give the same documents as the device's tokens.
  if (device.is_cuda()) b.input.documents = model::document_spans(tokens.narrow(1, 0, L), data::kEosId, device);
  b.targets = on_device.narrow(1, 1, L);
  if (patcher) {
    torch::NoGradGuard no_grad;
    p.patching = patcher->queue_patch(b.input.tokens, inputs == data::kIgnoreId, b.input.documents);
  }
  return p;
}

StepBatch PendingBatch::finish() && {
  if (patching) {
    batch.input.patch_lengths = patching->lengths();
    batch.patches = (batch.input.patch_lengths > 0).sum().to(torch::kDouble);
  }
  return std::move(batch);
}

StepBatch prepare_batch(const torch::Tensor& tokens, const model::Patcher* patcher, const torch::Device& device) {
  return queue_batch(tokens, patcher, device).finish();
}

double StepBatch::real_patches() const { return patches.defined() ? patches.item<double>() : 0.0; }

torch::Tensor BatchTotals::zeros(const torch::Device& device) {
  return torch::zeros({5}, torch::TensorOptions().dtype(torch::kDouble).device(device));
}

void BatchTotals::add(torch::Tensor& totals, const TokenLoss& loss, const StepBatch& batch) {
  totals.narrow(0, 0, 4).add_(loss.stats);
  if (batch.patches.defined()) totals.narrow(0, 4, 1).add_(batch.patches);
}

BatchTotals BatchTotals::read(const torch::Tensor& totals) {
  const auto host = totals.to(torch::kCPU);
  return {LossSums::read(host), host[4].item<double>()};
}

void check_shards_fit_model(const model::ModelConfig& model, const data::TokenTable* table, const std::string& spec) {
  const bool token_lm = model.type == "token_lm";
  if (table && !token_lm)
    fail("'{}' holds token shards ({}, tokenizer {}), which only a token_lm reads; this model is a {}", spec,
         data::kTokenTableFile, table->tokenizer, model.type);
  if (!table && token_lm)
    fail("'{}' holds byte shards, but a token_lm reads token shards: make them with blt-tokenizer encode "
         "(docs/sweeps.md), or train a byte_lm on bytes",
         spec);
  if (table && table->vocab_size > model.vocab_size)
    fail("'{}': tokenizer {} has {} ids but model.vocab_size is {}", spec, table->tokenizer, table->vocab_size,
         model.vocab_size);
}

torch::Tensor bytes_per_id_tensor(const data::TokenTable* table, const torch::Device& device) {
  if (!table) return {};
  return torch::tensor(table->bytes_per_id, torch::kDouble).to(torch::kFloat).to(device);
}

EvalResult evaluate(model::CausalLM& model, const model::Patcher* patcher, std::shared_ptr<const data::ShardSet> corpus,
                    const EvalOptions& options, parallel::Comm& comm, const torch::Device& device) {
  const auto start = std::chrono::steady_clock::now();
  data::LoaderOptions lo;
  lo.seq_len = options.seq_len;
  lo.batch_size = options.batch_size;
  lo.shuffle = false;
  lo.repeat = false;
  lo.rank = comm.rank();
  lo.world_size = comm.world_size();
  const std::string spec = corpus->spec();
  data::Loader loader(std::move(corpus), lo);
  const data::TokenTable* table = loader.stream().token_table().get();
  check_shards_fit_model(model.config(), table, spec);
  const auto bytes_per_id = bytes_per_id_tensor(table, device);

  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  EvalResult result;
  auto totals = BatchTotals::zeros(device);  // read once, at the end
  int64_t batches = 0;
  while (auto batch = loader.next()) {
    if (options.max_batches > 0 && batches >= options.max_batches) break;
    ++batches;
    auto step = prepare_batch(batch->tokens, patcher, device);
    torch::Tensor logits;
    {
      compat::CudaAutocast autocast(options.bf16 && device.is_cuda(), at::kBFloat16);
      logits = model.forward(step.input);
    }
    BatchTotals::add(totals, token_loss(logits, step.targets, bytes_per_id), step);
  }
  model.train(was_training);
  comm.all_reduce_sum_(totals);
  const auto read = BatchTotals::read(totals);
  result.sums = read.sums;
  result.patches = read.patches;
  result.bytes_per_token = table ? table->bytes_per_token() : 0.0;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace blt::train
