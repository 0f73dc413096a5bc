#include "blt/model/hf_export.h"

#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <vector>

#include "blt/core/error.h"
#include "blt/core/files.h"
#include "blt/core/safetensors.h"
#include "blt/model/hf_layout.h"
#include "blt/model/model_checkpoint.h"

namespace blt::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// HF builds every stack with unlimited causal attention and no document masks.
void check_attention(const TransformerShape& s, const std::string& key, const HfExportOptions& options) {
  if (s.sliding_window > 0 && !options.full_attention)
    fail("{}.sliding_window is {}: HF BltForCausalLM has no sliding window (it attends over the whole sequence); "
         "pass --full-attention to export anyway (same logits on sequences of at most {} bytes)",
         key, s.sliding_window, s.sliding_window);
}

void check_document_mask(const ModelConfig& c, const std::string& prefix, const HfExportOptions& options) {
  if (c.document_mask && !options.full_attention)
    fail("{}.document_mask is true: HF BltForCausalLM has no document masks (its attention crosses EOS); "
         "pass --full-attention to export anyway (same logits on text without EOS inside)",
         prefix);
}

// The keys every HF sub-config has; `s` is one blt stack.
json stack_config(const TransformerShape& s) {
  return {{"hidden_size", s.dim},
          {"num_hidden_layers", s.layers},
          {"num_attention_heads", s.heads},
          {"num_key_value_heads", s.kv_head_count()},
          {"head_dim", s.head_dim()},
          {"intermediate_size", s.ffn_dim},
          {"rms_norm_eps", s.norm_eps},
          {"hidden_act", "silu"},
          {"dropout", 0.0},
          {"max_position_embeddings", s.max_seq_len},
          {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", s.rope_theta}}}};
}

// Checks the parameters of `model` against the layout of its config and lists them
// under their HF names (`hf_name`); data is read when the writer reaches each one.
void add_tensors(const CausalLM& model, std::string (*hf_name)(const std::string&),
                 std::vector<safetensors::PendingTensor>& out) {
  std::map<std::string, torch::Tensor> params;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) params[item.key()] = item.value();
  const auto layout = parameter_layout(model.config());
  for (const auto& t : layout) {
    auto it = params.find(t.name);
    if (it == params.end()) fail("the {} model has no parameter '{}' ({})", model.config().type, t.name, hf_name(t.name));
    const auto tensor = it->second;
    if (tensor.sizes().vec() != t.shape)
      fail("parameter '{}' has shape {}, the HF layout needs {}", t.name, shape_text(tensor.sizes().vec()),
           shape_text(t.shape));
    out.push_back({hf_name(t.name), tensor.scalar_type(), t.shape,
                   [tensor] { return tensor.detach().to(torch::kCPU).contiguous(); }});
    params.erase(it);
  }
  if (!params.empty())
    fail("parameter '{}' of the {} model has no place in the HF layout", params.begin()->first, model.config().type);
}

// transformers' name of a parameter dtype (config.json "dtype").
std::string dtype_name(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kHalf: return "float16";
    case torch::kDouble: return "float64";
    default: fail("parameters of dtype {} cannot be exported", c10::toString(type));
  }
}

}  // namespace

json hf_config_from(const ModelConfig& blt, const ModelConfig* entropy, const HfExportOptions& options) {
  if (blt.type != "blt")
    fail("model.type is {}: the HF layout (BltForCausalLM) holds a BLT; export the BLT (its entropy model goes "
         "with it as the patcher)",
         blt.type);
  blt.validate();
  check_document_mask(blt, "model", options);
  check_attention(blt.local_encoder, "model.local_encoder", options);
  check_attention(blt.local_decoder, "model.local_decoder", options);
  if (blt.hash.functions == 0)
    fail("model.hash.functions is 0: HF BltForCausalLM always adds hash n-gram embeddings");

  const auto& p = blt.patching;
  const bool by_entropy = p.mode == "entropy";
  // HF patches by entropy with its patcher, or else gives every byte its own patch.
  if (!by_entropy && !(p.mode == "static" && p.static_size == 1))
    fail("model.patching.mode is {}{}: HF BltForCausalLM patches by entropy (global threshold) or one byte per "
         "patch (static with static_size 1) only",
         p.mode, p.mode == "static" ? fmt::format(" with static_size {}", p.static_size) : "");
  if (by_entropy && !entropy)
    fail("model.patching.mode is entropy but there is no entropy model (model.patching.entropy_model is '{}'): "
         "HF BltForCausalLM patches with its patcher, which is the entropy model",
         p.entropy_model);
  if (!by_entropy && entropy) fail("an entropy model was given, but model.patching.mode is {}", p.mode);

  json enc = stack_config(blt.local_encoder), dec = stack_config(blt.local_decoder);
  for (json* sub : {&enc, &dec}) {
    (*sub)["vocab_size"] = blt.vocab_size;
    (*sub)["cross_attn_k"] = blt.cross_attn_k;
    (*sub)["hidden_size_global"] = blt.global.dim;
  }
  enc["cross_attn_all_layers"] = blt.cross_attn_all_encoder_layers;
  dec["cross_attn_all_layers"] = blt.cross_attn_all_decoder_layers;
  json glo = stack_config(blt.global);
  const int64_t encoder_cross_output = blt.local_encoder.dim * blt.cross_attn_k;
  glo["encoder_cross_output_size"] = encoder_cross_output == blt.global.dim ? json(nullptr) : json(encoder_cross_output);

  json config = {{"architectures", {"BltForCausalLM"}},
                 {"model_type", "blt"},
                 {"vocab_size", blt.vocab_size},
                 {"max_position_embeddings", blt.global.max_seq_len},
                 {"patch_in_forward", by_entropy},
                 {"patch_size", 4},
                 {"patching_mode", by_entropy ? "entropy" : "byte"},
                 {"patching_threshold", p.threshold},
                 {"patching_batch_size", 1},
                 {"max_patch_length", p.max_patch_length > 0 ? json(p.max_patch_length) : json(nullptr)},
                 {"cross_attn_k", blt.cross_attn_k},
                 {"encoder_hash_byte_group_size", blt.hash.ngram_sizes},
                 {"encoder_hash_byte_group_vocab", blt.hash.vocab},
                 {"encoder_hash_byte_group_nb_functions", blt.hash.functions},
                 {"tie_word_embeddings", false},
                 {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", blt.global.rope_theta}}},
                 {"encoder_config", enc},
                 {"decoder_config", dec},
                 {"global_config", glo}};
  if (entropy) {
    if (entropy->type != "byte_lm")
      fail("model.patching.entropy_model holds a {} model, the HF patcher is a byte_lm", entropy->type);
    entropy->validate("entropy model");
    check_document_mask(*entropy, "entropy model: model", options);
    check_attention(entropy->transformer, "entropy model: model.transformer", options);
    json pat = stack_config(entropy->transformer);
    pat["vocab_size"] = entropy->vocab_size;
    config["patcher_config"] = pat;
  }
  return config;
}

void write_hf_checkpoint(const std::string& dir, const CausalLM& blt, const CausalLM* entropy,
                         const HfExportOptions& options) {
  auto config = hf_config_from(blt.config(), entropy ? &entropy->config() : nullptr, options);
  config["dtype"] = dtype_name(blt.parameters().front().scalar_type());
  std::vector<safetensors::PendingTensor> tensors;
  add_tensors(blt, &hf_name_of_blt, tensors);
  if (entropy) add_tensors(*entropy, &hf_name_of_entropy, tensors);
  fs::create_directories(dir);
  safetensors::write((fs::path(dir) / kCheckpointWeightsFile).string(), std::move(tensors), {{"format", "pt"}});
  write_file_atomic((fs::path(dir) / "config.json").string(), config.dump(2) + "\n");
}

}  // namespace blt::model
