#include "blt/parallel/sharded_update.h"

#include <optional>
#include <set>

#include "blt/core/error.h"
#include "blt/model/transformer_layer.h"
#include "blt/parallel/flat_layout.h"
#include "blt/parallel/param_units.h"

namespace blt::parallel {

ShardedUpdate::ShardedUpdate(model::CausalLM& model, Comm& comm, const train::OptimizerConfig& config, bool fsdp,
                             std::optional<c10::ScalarType> reduce_dtype)
    : ShardedUpdate(model, model_params(model), comm, config, fsdp, reduce_dtype) {}

ShardedUpdate::ShardedUpdate(model::CausalLM& model, std::vector<train::AdamW::Param> params, Comm& comm,
                             const train::OptimizerConfig& config, bool fsdp,
                             std::optional<c10::ScalarType> reduce_dtype)
    : ParamUpdate(comm, shapes_of(params)), table_(sparse_hash_table(model, config)), fsdp_(fsdp) {
  std::set<std::string> decayed;
  std::vector<std::pair<std::string, torch::Tensor>> named;
  std::optional<train::AdamW::Param> table;
  for (const auto& p : params) {
    if (table_.defined() && p.value.is_same(table_)) {
      table = table_param(p, config);
      continue;
    }
    named.emplace_back(p.name, p.value);
    if (p.decay) decayed.insert(p.name);
  }
  const auto modules = model.named_modules("", /*include_self=*/false);
  std::vector<train::AdamW::Param> chunk_params;
  std::vector<std::pair<ShardedUnit*, GatherHook*>> blocks;  // fsdp's, in module order
  for (const auto& unit : split_into_units(named)) {
    units_.push_back(std::make_unique<ShardedUnit>(unit, decayed, comm, /*kept_whole=*/!fsdp_, reduce_dtype));
    auto& u = *units_.back();
    for (const auto& piece : u.pieces()) {
      const auto& entry = u.layout().entries()[piece.entry];
      chunk_params.push_back({entry.name, u.master().narrow(0, piece.shard_offset, piece.count), entry.decay});
      segments_.push_back({units_.size() - 1, piece});
    }
    const auto* module = modules.find(unit.name);
    const bool block = module && std::dynamic_pointer_cast<model::TransformerLayerImpl>(*module);
    const bool table = module && std::dynamic_pointer_cast<torch::nn::EmbeddingImpl>(*module);
    hooks_.push_back(nullptr);
    if (fsdp_ && (block || table)) {
      auto hook = std::make_unique<GatherHook>(u, block ? GatherHook::Kind::kBlock : GatherHook::Kind::kTable, reduces_);
      if (block) blocks.push_back({&u, hook.get()});
      hooks_.back() = std::move(hook);
    } else if (block) {
      hooks_.back() = std::make_unique<ReduceHook>(u, reduces_, reduce_in_backward_);
    }
    if (hooks_.back()) {
      hooked_modules_.push_back(module->get());
      model::set_unit_hook(module->get(), hooks_.back().get());
    }
  }
  // Blocks run in module order (encoder, global, decoder layers), so each prefetches its neighbour.
  for (std::size_t k = 0; k < blocks.size(); ++k)
    blocks[k].second->set_neighbours(k + 1 < blocks.size() ? blocks[k + 1].first : nullptr,
                                     k > 0 ? blocks[k - 1].first : nullptr);
  if (table) {
    chunk_params.push_back(*table);
    table_rows_ = std::make_unique<GradSync>(std::vector<GradSync::Param>{{table->name, table_, true}}, comm);
  }
  optimizer_ = std::make_unique<train::AdamW>(std::move(chunk_params), config);
  if (table) catch_up_ = std::make_unique<TableCatchUp>(model, *optimizer_);
  if (fsdp_) chunks_changed();
}

ShardedUpdate::~ShardedUpdate() {
  for (const auto* module : hooked_modules_) model::set_unit_hook(module, nullptr);
}

void ShardedUpdate::gather_whole() {
  for (auto& u : units_)
    if (!u->gathered()) u->gather();
}

void ShardedUpdate::release_whole() {
  if (!fsdp_) return;
  for (std::size_t i = 0; i < units_.size(); ++i)
    if (hooks_[i]) units_[i]->release();
}

void ShardedUpdate::sum_gradients_over_ranks() {
  torch::NoGradGuard no_grad;
  for (auto& u : units_) {
    if (!reduces_.started(*u))
      reduces_.start(*u);
    else if (u->has_param_grads())  // autograd ran a gradient into the block after its hook had passed it on
      fail("{}: unit {} has parameter gradients left after backward", fsdp_ ? "fsdp" : "zero2", u->name());
  }
  reduces_.finish_all();
  reduce_in_backward_ = false;
  if (table_rows_) table_rows_->all_reduce_grads();
}

torch::Tensor ShardedUpdate::step_with_summed_gradients(double lr, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> chunks;
  for (auto& u : units_) chunks.push_back(u->grad());
  auto squares = squared_norm(chunks, chunks.front().device());  // padding is zero
  comm_.all_reduce_sum_(squares);
  std::vector<torch::Tensor> grads;
  for (const auto& s : segments_) grads.push_back(units_[s.unit]->grad().narrow(0, s.piece.shard_offset, s.piece.count));
  if (table_.defined()) {  // every rank holds every rank's rows: their norm is not summed again
    grads.push_back(table_.grad());
    squares = squares + squared_norm({table_.grad()}, squares.device());
  }
  const auto norm = squares.sqrt();
  apply_update(lr, grads, norm, max_norm);
  for (auto& u : units_) u->zero_grad();
  if (table_rows_) table_rows_->clear_grads();
  chunks_changed();
  return norm;
}

std::vector<ParamUpdate::SliceSpec> ShardedUpdate::chunk_slices() const {
  std::vector<SliceSpec> out;
  for (std::size_t i = 0; i < segments_.size(); ++i) out.push_back({i, segments_[i].piece.begin, 0, segments_[i].piece.count});
  return out;
}

std::vector<ParamUpdate::SliceSpec> ShardedUpdate::saved_slices() const {
  auto out = chunk_slices();
  if (table_.defined()) {  // whole on every rank: each writes its chunk of the table's flat space
    const FlatLayout layout({{"table", table_.sizes().vec()}}, comm_.world_size());
    for (const auto& piece : layout.pieces(comm_.rank())) out.push_back({segments_.size(), piece.begin, piece.begin, piece.count});
  }
  return out;
}

std::vector<ParamUpdate::SliceSpec> ShardedUpdate::loaded_slices() const {
  auto out = chunk_slices();
  if (table_.defined()) out.push_back({segments_.size(), 0, 0, table_.numel()});
  return out;
}

void ShardedUpdate::chunks_changed() {
  for (std::size_t i = 0; i < units_.size(); ++i) {
    if (fsdp_ && hooks_[i])
      units_[i]->release();
    else
      units_[i]->gather();  // the updated chunks, into the whole parameters
  }
}

}  // namespace blt::parallel
