#include "blt/model/blt_inference.h"

#include <algorithm>

#include "blt/core/error.h"
#include "blt/model/token_ids.h"

namespace blt::model {

BltIncremental::BltIncremental(std::shared_ptr<BltModel> model, std::shared_ptr<TransformerLM> entropy_model)
    : BltIncremental(model, std::move(entropy_model), model->config().patching) {}

BltIncremental::BltIncremental(std::shared_ptr<BltModel> model, std::shared_ptr<TransformerLM> entropy_model,
                               PatchingConfig patching)
    : model_(std::move(model)), patcher_(std::move(patching), std::move(entropy_model)) {
  const auto& config = model_->config();
  if (config.hash.tables() > 0) max_ngram_ = *std::max_element(config.hash.ngram_sizes.begin(), config.hash.ngram_sizes.end());
  cache_.patch_kv.resize(static_cast<std::size_t>(config.local_decoder.layers));
}

bool BltIncremental::full() const {
  const auto& config = model_->config();
  const int64_t bytes = cache_.encoder.length;
  return bytes >= config.local_encoder.max_seq_len || bytes >= config.local_decoder.max_seq_len ||
         cache_.patches >= config.global.max_seq_len;
}

torch::Tensor BltIncremental::embed(int64_t id) {
  // The n-grams ending at the new byte lie in the last max_ngram_ ids, so hashing
  // that window (left-padded with id 0 like the full sequence) gives its rows.
  cache_.recent_ids.push_back(id);
  if (static_cast<int64_t>(cache_.recent_ids.size()) > max_ngram_) cache_.recent_ids.erase(cache_.recent_ids.begin());
  const auto device = model_->lm_head->weight.device();
  auto window = torch::tensor(cache_.recent_ids, torch::kLong).to(device).view({1, -1});
  return model_->embed(window).narrow(1, window.size(1) - 1, 1);
}

void BltIncremental::complete_patch() {
  const auto& config = model_->config();
  auto bytes = torch::cat(cache_.patch_bytes, 1);  // [1, n, d_l]
  auto own_patch = torch::zeros({1, bytes.size(1)}, torch::TensorOptions().dtype(torch::kLong).device(bytes.device()));
  auto& encoder = model_->local_encoder;
  auto patch_state = encoder->pool(config.local_encoder.layers - 1, bytes, own_patch, 1);  // [1, 1, k * d_l]
  auto& global = model_->global_transformer;
  auto g = step_stack(global->layers, config.global, global->project(patch_state), cache_.global);
  auto& decoder = model_->local_decoder;
  auto vectors = decoder->patch_vectors(g);  // [1, k, d_l]
  for (int64_t i = 0; i < config.local_decoder.layers; ++i)
    if (decoder->reads_patches(i))
      cache_.patch_kv[static_cast<std::size_t>(i)] = decoder->cross_attention(i)->patch_keys_values(vectors, config.cross_attn_k);
  ++cache_.patches;
}

torch::Tensor BltIncremental::push(int64_t id) {
  if (id == kEosId) fail("blt incremental inference: EOS ends the stream (one document only)");
  if (full()) fail("blt incremental inference: the model's context is full ({} bytes, {} patches)", cache_.encoder.length,
                   cache_.patches);
  torch::NoGradGuard no_grad;
  const auto& config = model_->config();
  if (patcher_.push(id)) cache_.patch_bytes.clear();
  auto h = step_stack(model_->local_encoder->layers, config.local_encoder, embed(id), cache_.encoder);
  cache_.patch_bytes.push_back(h);
  // The byte after this one starts a patch: this byte's patch is complete, and
  // this byte already reads it in the decoder.
  if (patcher_.next_starts_patch()) complete_patch();

  auto& decoder = model_->local_decoder;
  const auto& shape = config.local_decoder;
  if (cache_.decoder.layers.empty()) cache_.decoder.layers.resize(decoder->layers->size());
  const auto context = begin_step(shape, cache_.decoder, 1, h.scalar_type(), h.device());
  for (int64_t i = 0; i < shape.layers; ++i) {
    const auto li = static_cast<std::size_t>(i);
    if (decoder->reads_patches(i)) {
      const auto& [keys, values] = cache_.patch_kv[li];
      h = h + decoder->cross_attention(i)->attend_patch(h, keys, values);
    }
    h = decoder->layers[li]->as<TransformerLayer>()->step(h, context.rope, cache_.decoder.layers[li], context.allowed);
  }
  finish_step(shape, cache_.decoder);
  return model_->lm_head(decoder->norm(h)).view({-1});
}

}  // namespace blt::model
