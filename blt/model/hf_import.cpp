#include "blt/model/hf_import.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "blt/core/error.h"
#include <spdlog/spdlog.h>
#include "blt/core/safetensors.h"
#include "blt/model/model_checkpoint.h"

namespace blt::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// One JSON object of config.json with the path of keys that led to it, for errors.
class JsonSection {
 public:
  JsonSection(const json& node, std::string source, std::string path)
      : node_(node), source_(std::move(source)), path_(std::move(path)) {
    if (!node_.is_object()) fail("{}: '{}' must be an object", source_, path_.empty() ? "(top level)" : path_);
  }

  bool has(const char* key) const { return node_.contains(key) && !node_[key].is_null(); }
  std::string key_path(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

  int64_t integer(const char* key) const {
    if (!has(key)) fail("{}: missing '{}'", source_, key_path(key));
    if (!node_[key].is_number_integer()) fail("{}: '{}' must be an integer, got {}", source_, key_path(key), node_[key].dump());
    return node_[key].get<int64_t>();
  }
  int64_t integer(const char* key, int64_t fallback) const { return has(key) ? integer(key) : fallback; }
  double number(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    if (!node_[key].is_number()) fail("{}: '{}' must be a number, got {}", source_, key_path(key), node_[key].dump());
    return node_[key].get<double>();
  }
  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!node_[key].is_boolean()) fail("{}: '{}' must be true or false, got {}", source_, key_path(key), node_[key].dump());
    return node_[key].get<bool>();
  }
  std::string string(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!node_[key].is_string()) fail("{}: '{}' must be a string, got {}", source_, key_path(key), node_[key].dump());
    return node_[key].get<std::string>();
  }
  std::vector<int64_t> integers(const char* key, std::vector<int64_t> fallback) const {
    if (!has(key)) return fallback;
    const auto& v = node_[key];
    if (!v.is_array()) fail("{}: '{}' must be a list of integers, got {}", source_, key_path(key), v.dump());
    std::vector<int64_t> out;
    for (const auto& x : v) {
      if (!x.is_number_integer()) fail("{}: '{}' must be a list of integers, got {}", source_, key_path(key), v.dump());
      out.push_back(x.get<int64_t>());
    }
    return out;
  }
  JsonSection section(const char* key) const {
    if (!has(key)) fail("{}: missing '{}'", source_, key_path(key));
    return JsonSection(node_[key], source_, key_path(key));
  }
  const json& raw(const char* key) const { return node_[key]; }
  [[noreturn]] void error(const char* key, const std::string& what) const {
    fail("{}: '{}' {}", source_, key_path(key), what);
  }

 private:
  const json& node_;
  std::string source_, path_;
};

// RoPE base of a sub-config: rope_parameters.rope_theta (transformers 5), else rope_theta (4.x),
// else the top level's, else the default. Scaled RoPE variants are not supported.
double rope_theta(const JsonSection& sub, const JsonSection& top, double fallback) {
  for (const JsonSection* s : {&sub, &top}) {
    if (s->has("rope_scaling")) s->error("rope_scaling", "is set: scaled RoPE is not supported by blt");
    if (s->has("rope_parameters")) {
      const auto params = s->section("rope_parameters");
      const auto type = params.string("rope_type", "default");
      if (type != "default") params.error("rope_type", fmt::format("is '{}': only default RoPE is supported", type));
      if (params.has("rope_theta")) return params.number("rope_theta", fallback);
    }
    if (s->has("rope_theta")) return s->number("rope_theta", fallback);
  }
  return fallback;
}

TransformerShape shape_from(const JsonSection& sub, const JsonSection& top, int64_t default_max_positions) {
  TransformerShape s;
  s.dim = sub.integer("hidden_size");
  s.layers = sub.integer("num_hidden_layers");
  s.heads = sub.integer("num_attention_heads");
  s.kv_heads = sub.integer("num_key_value_heads", 0);
  if (s.kv_heads == s.heads) s.kv_heads = 0;
  s.ffn_dim = sub.integer("intermediate_size", s.dim * 8 / 3);
  s.norm_eps = sub.number("rms_norm_eps", 1e-5);
  s.rope_theta = rope_theta(sub, top, 500000.0);
  s.sliding_window = 0;  // HF BLT attends causally over the whole sequence
  s.max_seq_len = sub.integer("max_position_embeddings", default_max_positions);
  if (s.heads <= 0 || s.dim % s.heads != 0)
    sub.error("num_attention_heads", fmt::format("({}) must divide hidden_size ({})", s.heads, s.dim));
  if (sub.has("head_dim") && sub.integer("head_dim") != s.dim / s.heads)
    sub.error("head_dim", fmt::format("({}) must be hidden_size / num_attention_heads ({})", sub.integer("head_dim"),
                                      s.dim / s.heads));
  const auto act = sub.string("hidden_act", "silu");
  if (act != "silu") sub.error("hidden_act", fmt::format("is '{}': blt's FFN is SwiGLU (silu)", act));
  return s;
}

// The tensors of an HF checkpoint: one safetensors file or several behind an index.
class HfWeights {
 public:
  explicit HfWeights(const std::string& dir) {
    const fs::path single = fs::path(dir) / "model.safetensors";
    const fs::path index = fs::path(dir) / "model.safetensors.index.json";
    if (fs::exists(single)) {
      add_file(single.string());
    } else if (fs::exists(index)) {
      std::ifstream in(index);
      json parsed;
      try {
        parsed = json::parse(in);
      } catch (const json::parse_error& e) {
        fail("{}: not valid JSON: {}", index.string(), e.what());
      }
      if (!parsed.contains("weight_map") || !parsed["weight_map"].is_object())
        fail("{}: missing the 'weight_map' object", index.string());
      std::set<std::string> files;
      for (const auto& item : parsed["weight_map"].items()) {
        if (!item.value().is_string()) fail("{}: weight_map['{}'] must be a file name", index.string(), item.key());
        files.insert(item.value().get<std::string>());
      }
      for (const auto& f : files) add_file((fs::path(dir) / f).string());
    } else {
      fail("{}: no model.safetensors or model.safetensors.index.json", dir);
    }
  }

  const safetensors::Reader* find(const std::string& name) const {
    auto it = owner_.find(name);
    return it == owner_.end() ? nullptr : it->second;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& item : owner_) out.push_back(item.first);
    return out;
  }
  std::string describe() const {
    std::vector<std::string> paths;
    for (const auto& r : readers_) paths.push_back(r->path());
    return fmt::format("{}", fmt::join(paths, ", "));
  }

 private:
  void add_file(const std::string& path) {
    readers_.push_back(std::make_unique<safetensors::Reader>(path));
    for (const auto& t : readers_.back()->tensors()) {
      if (owner_.count(t.name)) fail("{}: tensor '{}' is also in {}", path, t.name, owner_[t.name]->path());
      owner_[t.name] = readers_.back().get();
    }
  }
  std::vector<std::unique_ptr<safetensors::Reader>> readers_;
  std::map<std::string, const safetensors::Reader*> owner_;
};

// The blt tensors of `layout`, found in `weights` via `hf_name` (names and shapes checked
// now, data read when the writer gets to each tensor).
std::vector<safetensors::PendingTensor> collect(const HfWeights& weights, const std::vector<TensorShape>& layout,
                                                           std::string (*hf_name)(const std::string&),
                                                           const std::map<std::string, std::string>& aliases,
                                                           std::set<std::string>& used) {
  std::vector<safetensors::PendingTensor> out;
  for (const auto& t : layout) {
    std::string source = hf_name(t.name);
    if (!weights.find(source) && aliases.count(source)) source = aliases.at(source);
    const auto* reader = weights.find(source);
    if (!reader)
      fail("{}: missing tensor '{}' (blt parameter '{}', shape {})", weights.describe(), source, t.name,
           shape_text(t.shape));
    const auto& info = reader->info(source);
    if (info.shape != t.shape)
      fail("{}: tensor '{}' has shape {}, blt parameter '{}' needs {}", reader->path(), source, shape_text(info.shape),
           t.name, shape_text(t.shape));
    out.push_back({t.name, safetensors::to_scalar_type(info.dtype), t.shape,
                   [reader, source] { return reader->load(source); }});
    used.insert(source);
  }
  return out;
}

}  // namespace

HfConfigs configs_from_hf(const json& config, const std::string& source) {
  const JsonSection top(config, source, "");
  const auto model_type = top.string("model_type", "");
  if (model_type != "blt") top.error("model_type", fmt::format("is '{}', expected 'blt'", model_type));
  const auto enc = top.section("encoder_config");
  const auto glo = top.section("global_config");
  const auto dec = top.section("decoder_config");

  HfConfigs out;
  ModelConfig& m = out.blt;
  m.type = "blt";
  m.vocab_size = top.integer("vocab_size", 260);
  if (m.vocab_size != 260) top.error("vocab_size", fmt::format("is {}: blt's byte vocabulary has 260 ids", m.vocab_size));
  for (const auto* sub : {&enc, &dec})
    if (sub->integer("vocab_size", 260) != 260) sub->error("vocab_size", "must be 260");
  m.document_mask = false;  // HF BLT's local attention crosses EOS
  m.local_encoder = shape_from(enc, top, 24576);
  m.global = shape_from(glo, top, 4096);
  m.local_decoder = shape_from(dec, top, 24576);

  m.cross_attn_k = top.integer("cross_attn_k", 2);
  for (const auto* sub : {&enc, &dec})
    if (sub->integer("cross_attn_k", 2) != m.cross_attn_k)
      sub->error("cross_attn_k", fmt::format("({}) differs from the top-level cross_attn_k ({})",
                                             sub->integer("cross_attn_k", 2), m.cross_attn_k));
  if (dec.integer("hidden_size_global", 2048) != m.global.dim)
    dec.error("hidden_size_global", fmt::format("({}) differs from global_config.hidden_size ({})",
                                                dec.integer("hidden_size_global", 2048), m.global.dim));
  m.cross_attn_all_encoder_layers = enc.boolean("cross_attn_all_layers", false);
  m.cross_attn_all_decoder_layers = dec.boolean("cross_attn_all_layers", true);

  m.hash.vocab = top.integer("encoder_hash_byte_group_vocab", 500002);
  m.hash.functions = top.integer("encoder_hash_byte_group_nb_functions", 1);
  m.hash.ngram_sizes = top.integers("encoder_hash_byte_group_size", {3, 4, 5, 6, 7, 8});

  out.has_patcher = top.boolean("patch_in_forward", true);
  const auto mode = top.string("patching_mode", "entropy");
  m.patching.max_patch_length = top.integer("max_patch_length", 0);
  m.patching.threshold = top.number("patching_threshold", 1.335442066192627);
  if (out.has_patcher && mode == "entropy") {
    m.patching.mode = "entropy";
    m.patching.entropy_model = kImportedEntropyModelDir;
  } else {
    // HF gives every byte its own patch when it does not patch by entropy.
    m.patching.mode = "static";
    m.patching.static_size = 1;
  }
  out.tie_word_embeddings = top.boolean("tie_word_embeddings", false);

  if (out.has_patcher) {
    const auto pat = top.section("patcher_config");
    ModelConfig& e = out.entropy;
    e.type = "byte_lm";
    e.vocab_size = pat.integer("vocab_size", 260);
    if (e.vocab_size != 260) pat.error("vocab_size", "must be 260");
    e.document_mask = false;
    e.transformer = shape_from(pat, top, 8192);
    e.validate("patcher_config");
  }
  try {
    m.validate();
  } catch (const Error& err) {
    fail("{}: the translated config is not a valid blt model: {}", source, err.what());
  }
  return out;
}

void import_hf_checkpoint(const std::string& hf_dir, const std::string& out_dir) {
  const fs::path config_path = fs::path(hf_dir) / "config.json";
  std::ifstream in(config_path);
  if (!in) fail("{}: cannot read (an HF checkpoint directory has config.json)", config_path.string());
  json parsed;
  try {
    parsed = json::parse(in);
  } catch (const json::parse_error& e) {
    fail("{}: not valid JSON: {}", config_path.string(), e.what());
  }
  const auto configs = configs_from_hf(parsed, config_path.string());
  const HfWeights weights(hf_dir);

  std::set<std::string> used;
  std::map<std::string, std::string> blt_aliases;
  if (configs.tie_word_embeddings) blt_aliases["lm_head.weight"] = "model.local_encoder.embed_tokens.weight";
  auto blt_tensors = collect(weights, parameter_layout(configs.blt), &hf_name_of_blt, blt_aliases, used);
  std::vector<safetensors::PendingTensor> entropy_tensors;
  if (configs.has_patcher)
    entropy_tensors = collect(weights, parameter_layout(configs.entropy), &hf_name_of_entropy, {}, used);
  for (const auto& name : weights.names())
    if (!used.count(name)) fail("{}: unexpected tensor '{}' (no blt parameter maps to it)", weights.describe(), name);

  const std::size_t n_blt = blt_tensors.size(), n_entropy = entropy_tensors.size();
  if (configs.has_patcher) {
    write_model_checkpoint((fs::path(out_dir) / kImportedEntropyModelDir).string(), configs.entropy,
                           std::move(entropy_tensors));
    spdlog::info("entropy model: {} tensors -> {}/{}", n_entropy, out_dir, kImportedEntropyModelDir);
  }
  write_model_checkpoint(out_dir, configs.blt, std::move(blt_tensors));
  spdlog::info("blt model: {} tensors -> {}", n_blt, out_dir);
}

}  // namespace blt::model
