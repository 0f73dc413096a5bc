// The export path to the Hugging Face BltForCausalLM layout (`blt export --format hf`):
// import(export(x)) == x bit for bit, the config.json and tensor names transformers
// reads, what the layout cannot express, and the safety of the output directory.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "blt/config/yaml_config.h"
#include "blt/core/error.h"
#include "blt/core/safetensors.h"
#include "blt/model/hf_export.h"
#include "blt/model/hf_import.h"
#include "blt/model/model_checkpoint.h"
#include "blt/model/transformer_lm.h"
#include "model_test_util.h"
#include "train_test_util.h"

using blt::test::load_model_preset;
using blt::test::read_file;
using blt::test::run_blt;
using blt::test::TempDir;
using Catch::Matchers::Contains;
using nlohmann::json;
namespace fs = std::filesystem;
namespace m = blt::model;
namespace st = blt::safetensors;

namespace {

// The tiny BLT with what HF BLT can express: causal attention over the whole
// sequence, entropy patching with the entropy model in ./entropy.
const std::vector<std::string> kHfAttention{"model.local_encoder.sliding_window=0",
                                            "model.local_decoder.sliding_window=0", "model.document_mask=false"};

m::ModelConfig tiny_blt(std::vector<std::string> overrides = {}) {
  auto all = kHfAttention;
  for (const auto& o : {"model.patching.mode=entropy", "model.patching.threshold=5.3", "model.patching.entropy_model=entropy"})
    all.push_back(o);
  all.insert(all.end(), overrides.begin(), overrides.end());
  return load_model_preset("tiny", all);
}
m::ModelConfig tiny_entropy() {
  return load_model_preset("entropy-tiny", {"model.transformer.sliding_window=0", "model.document_mask=false"});
}

// A model checkpoint of `config` with random weights (and ./entropy when it patches by entropy).
void write_checkpoint(const std::string& dir, const m::ModelConfig& config) {
  m::save_model_checkpoint(dir, *m::build_model(config));
  if (config.patching.mode == "entropy") m::save_model_checkpoint(dir + "/entropy", *m::build_model(tiny_entropy()));
}

// Every tensor of two safetensors files: same names, dtypes, shapes and bytes.
void check_same_tensors(const std::string& a_path, const std::string& b_path) {
  st::Reader a(a_path), b(b_path);
  REQUIRE(a.tensors().size() == b.tensors().size());
  for (std::size_t i = 0; i < a.tensors().size(); ++i) {
    const auto &x = a.tensors()[i], &y = b.tensors()[i];
    INFO(x.name);
    REQUIRE(x.name == y.name);
    CHECK(x.dtype == y.dtype);
    CHECK(x.shape == y.shape);
    CHECK(torch::equal(a.load(x.name), b.load(y.name)));
  }
}

// The checkpoint in `a` and its round trip in `b`: config.yaml (written by the same
// writer, so equal text is an equal config) and every tensor, also of ./entropy.
void check_same_checkpoint(const std::string& a, const std::string& b) {
  CHECK(read_file(a + "/config.yaml") == read_file(b + "/config.yaml"));
  check_same_tensors(a + "/model.safetensors", b + "/model.safetensors");
  REQUIRE(fs::exists(a + "/entropy") == fs::exists(b + "/entropy"));
  if (fs::exists(a + "/entropy")) {
    CHECK(read_file(a + "/entropy/config.yaml") == read_file(b + "/entropy/config.yaml"));
    check_same_tensors(a + "/entropy/model.safetensors", b + "/entropy/model.safetensors");
  }
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

}  // namespace

TEST_CASE("hf export: import(export(x)) is x bit for bit, every tensor and the config", "[hf-export]") {
  TempDir dir;
  write_checkpoint(dir / "ckpt", tiny_blt());
  auto r = run_blt(fmt::format("export {} {} --format hf", dir / "ckpt", dir / "hf"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE(fs::exists(dir / "hf/config.json"));
  r = run_blt(fmt::format("import {} {}", dir / "hf", dir / "back"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  check_same_checkpoint(dir / "ckpt", dir / "back");

  // Every structural option of the layout, and the patcher-less form (one byte per patch).
  const std::vector<std::vector<std::string>> variants{
      {"model.cross_attn_k=3"},  // k * d_l != d_g: the global input projection
      {"model.global.dim=128", "model.cross_attn_k=2"},
      {"model.cross_attn_all_encoder_layers=true", "model.local_encoder.layers=2"},
      {"model.cross_attn_all_decoder_layers=false"},
      {"model.local_encoder.kv_heads=2", "model.global.kv_heads=1", "model.local_decoder.kv_heads=2"},
      {"model.hash.functions=2", "model.hash.ngram_sizes=[3, 5]", "model.hash.vocab=97"},
      {"model.patching.max_patch_length=6", "model.global.rope_theta=10000", "model.local_decoder.norm_eps=1e-6"},
      {"model.patching.mode=static", "model.patching.static_size=1", "model.patching.entropy_model=''"},
  };
  for (std::size_t i = 0; i < variants.size(); ++i) {
    INFO(fmt::format("{}", fmt::join(variants[i], " ")));
    const auto config = tiny_blt(variants[i]);
    const std::string ckpt = dir / fmt::format("v{}/ckpt", i), hf = dir / fmt::format("v{}/hf", i),
                      back = dir / fmt::format("v{}/back", i);
    write_checkpoint(ckpt, config);
    const auto blt = m::load_model_checkpoint(ckpt);
    const auto entropy = config.patching.mode == "entropy" ? m::load_entropy_model(ckpt + "/entropy", "test") : nullptr;
    m::write_hf_checkpoint(hf, *blt, entropy.get(), {});
    m::import_hf_checkpoint(hf, back);
    check_same_checkpoint(ckpt, back);
  }
}

TEST_CASE("hf export: config.json and tensor names are those BltForCausalLM reads", "[hf-export]") {
  TempDir dir;
  const auto c = tiny_blt({"model.cross_attn_k=3", "model.global.kv_heads=2", "model.patching.max_patch_length=8"});
  const auto e = tiny_entropy();
  write_checkpoint(dir / "ckpt", c);
  const auto r = run_blt(fmt::format("export {} {} --format hf", dir / "ckpt", dir / "hf"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);

  // The keys and values of BltConfig and its sub-configs (docs/hf-layout.md section 1).
  const auto cfg = read_json(dir / "hf/config.json");
  CHECK(cfg["model_type"] == "blt");
  CHECK(cfg["architectures"] == json::array({"BltForCausalLM"}));
  CHECK(cfg["dtype"] == "float32");
  CHECK(cfg["vocab_size"] == 260);
  CHECK(cfg["patch_in_forward"] == true);
  CHECK(cfg["patching_mode"] == "entropy");
  CHECK(cfg["patching_threshold"] == 5.3);
  CHECK(cfg["max_patch_length"] == 8);
  CHECK(cfg["cross_attn_k"] == 3);
  CHECK(cfg["encoder_hash_byte_group_size"] == json::array({3, 4, 5, 6, 7, 8}));
  CHECK(cfg["encoder_hash_byte_group_vocab"] == 500);
  CHECK(cfg["encoder_hash_byte_group_nb_functions"] == 1);
  CHECK(cfg["tie_word_embeddings"] == false);
  const auto check_stack = [](const json& sub, const m::TransformerShape& s) {
    CHECK(sub["hidden_size"] == s.dim);
    CHECK(sub["num_hidden_layers"] == s.layers);
    CHECK(sub["num_attention_heads"] == s.heads);
    CHECK(sub["num_key_value_heads"] == s.kv_head_count());
    CHECK(sub["head_dim"] == s.dim / s.heads);
    CHECK(sub["intermediate_size"] == s.ffn_dim);
    CHECK(sub["rms_norm_eps"] == s.norm_eps);
    CHECK(sub["hidden_act"] == "silu");
    CHECK(sub["max_position_embeddings"] == s.max_seq_len);
    CHECK(sub["rope_parameters"] == json({{"rope_type", "default"}, {"rope_theta", s.rope_theta}}));
  };
  check_stack(cfg["encoder_config"], c.local_encoder);
  check_stack(cfg["global_config"], c.global);
  check_stack(cfg["decoder_config"], c.local_decoder);
  check_stack(cfg["patcher_config"], e.transformer);
  for (const char* sub : {"encoder_config", "decoder_config"}) {
    INFO(sub);
    CHECK(cfg[sub]["vocab_size"] == 260);
    CHECK(cfg[sub]["cross_attn_k"] == 3);
    CHECK(cfg[sub]["hidden_size_global"] == c.global.dim);
  }
  CHECK(cfg["encoder_config"]["cross_attn_all_layers"] == false);
  CHECK(cfg["decoder_config"]["cross_attn_all_layers"] == true);
  CHECK(cfg["global_config"]["encoder_cross_output_size"] == 64 * 3);
  CHECK(cfg["patcher_config"]["vocab_size"] == 260);

  // Names and shapes as BltForCausalLM.state_dict() has them (docs/hf-layout.md section 2),
  // written out here from HF's formulas rather than from blt's table.
  const int64_t E = 64, G = 128, D = 64, P = 64, k = 3, F = 176, FG = 352;
  std::map<std::string, std::vector<int64_t>> expected{
      {"model.local_encoder.embed_tokens.weight", {260, E}},
      {"model.local_encoder.patch_embedding_projection.weight", {E * k, E}},
      {"model.encoder_hash_tok_embedding.weight", {500 * 6, E}},
      {"model.global_transformer.token_embedding_projection.weight", {G, E * k}},
      {"model.local_decoder.patch_embedding_projection.weight", {D * k, G}},
      {"model.local_decoder.norm.weight", {D}},
      {"model.patcher.embed_tokens.weight", {260, P}},
      {"model.patcher.norm.weight", {P}},
      {"model.patcher.lm_head.weight", {260, P}},
      {"lm_head.weight", {260, D}},
  };
  const auto layer = [&](const std::string& p, int64_t d, int64_t heads, int64_t kv_heads, int64_t ffn) {
    const int64_t hd = d / heads;
    expected[p + "input_layernorm.weight"] = {d};
    expected[p + "post_attention_layernorm.weight"] = {d};
    expected[p + "self_attn.q_proj.weight"] = {heads * hd, d};
    expected[p + "self_attn.k_proj.weight"] = {kv_heads * hd, d};
    expected[p + "self_attn.v_proj.weight"] = {kv_heads * hd, d};
    expected[p + "self_attn.o_proj.weight"] = {d, heads * hd};
    expected[p + "mlp.gate_proj.weight"] = {ffn, d};
    expected[p + "mlp.up_proj.weight"] = {ffn, d};
    expected[p + "mlp.down_proj.weight"] = {d, ffn};
  };
  const auto cross = [&](const std::string& p, int64_t d) {
    for (const char* n : {"q_norm", "k_norm"}) expected[p + n + ".weight"] = {d};
    for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj"}) expected[p + n + ".weight"] = {d, d};
  };
  layer("model.local_encoder.layers.0.", E, 4, 4, F);
  cross("model.local_encoder.cross_attn_layers.0.", E);
  for (int i = 0; i < 2; ++i) layer(fmt::format("model.global_transformer.layers.{}.", i), G, 4, 2, FG);
  for (int i = 0; i < 2; ++i) {
    layer(fmt::format("model.local_decoder.layers.{}.", i), D, 4, 4, F);
    cross(fmt::format("model.local_decoder.cross_attn_layers.{}.", i), D);
    layer(fmt::format("model.patcher.layers.{}.", i), P, 4, 4, F);
  }
  std::map<std::string, std::vector<int64_t>> written;
  st::Reader weights(dir / "hf/model.safetensors");
  for (const auto& t : weights.tensors()) {
    written[t.name] = t.shape;
    CHECK(t.dtype == st::DType::F32);
  }
  CHECK(written == expected);
  CHECK(weights.metadata().at("format") == "pt");  // transformers' loader requires it
}

TEST_CASE("hf export: from a training checkpoint, the same model as the native export", "[hf-export]") {
  TempDir dir;
  blt::test::write_corpus(dir / "corpus");
  m::save_model_checkpoint(dir / "entropy", *m::build_model(tiny_entropy()));
  std::string extra = "  steps: 2\n";
  auto config = blt::test::config_file(dir, "run", "tiny", extra);
  std::string sets;
  for (const auto& o : kHfAttention) sets += " --set " + o;
  sets += " --set model.patching.mode=entropy --set model.patching.threshold=5.3 --set model.patching.entropy_model=" +
          (dir / "entropy");
  auto r = run_blt("train " + config + sets, "OMP_NUM_THREADS=1");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::string step = dir / "runs/run/checkpoints/step-00000002";
  REQUIRE(fs::exists(step));
  r = run_blt(fmt::format("export {} {} --format hf", step, dir / "hf"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  r = run_blt(fmt::format("export {} {}", step, dir / "native"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  m::import_hf_checkpoint(dir / "hf", dir / "back");
  // The native export names the entropy model by its absolute path, the import by ./entropy.
  check_same_tensors(dir / "native/model.safetensors", dir / "back/model.safetensors");
  check_same_tensors(dir / "entropy/model.safetensors", dir / "back/entropy/model.safetensors");
  auto back = m::read_checkpoint_config(dir / "back");
  const auto native = m::read_checkpoint_config(dir / "native");
  CHECK(back.patching.entropy_model == "entropy");
  back.patching.entropy_model = native.patching.entropy_model;
  CHECK(blt::config::to_yaml(back) == blt::config::to_yaml(native));
}

TEST_CASE("hf export: what BltForCausalLM cannot express is refused, naming the key", "[hf-export]") {
  const auto e = tiny_entropy();
  const auto refused = [&](const m::ModelConfig& c, const m::ModelConfig* entropy, const std::string& message,
                           m::HfExportOptions options = {}) {
    INFO(message);
    REQUIRE_THROWS_WITH(m::hf_config_from(c, entropy, options), Contains(message));
  };
  refused(load_model_preset("tiny", {"model.document_mask=false", "model.local_decoder.sliding_window=0",
                                     "model.patching.static_size=1"}),
          nullptr, "model.local_encoder.sliding_window is 64");
  refused(tiny_blt({"model.document_mask=true"}), &e, "model.document_mask is true");
  refused(tiny_blt({"model.patching.mode=space"}), nullptr, "model.patching.mode is space");
  refused(tiny_blt({"model.patching.mode=static"}), nullptr, "model.patching.mode is static with static_size 4");
  refused(tiny_blt({"model.patching.mode=entropy_monotonic"}), &e, "model.patching.mode is entropy_monotonic");
  refused(tiny_blt(), nullptr, "model.patching.mode is entropy but there is no entropy model");
  refused(tiny_blt({"model.hash.functions=0"}), &e, "model.hash.functions is 0");
  refused(e, nullptr, "model.type is byte_lm");
  const auto windowed_entropy = load_model_preset("entropy-tiny", {"model.document_mask=false"});
  refused(tiny_blt(), &windowed_entropy, "entropy model: model.transformer.sliding_window is 64");

  // --full-attention accepts a windowed, document-masked model (HF computes it without either).
  m::HfExportOptions full;
  full.full_attention = true;
  const auto trained_like = load_model_preset("tiny", {"model.patching.static_size=1"});
  CHECK(m::hf_config_from(trained_like, nullptr, full)["patch_in_forward"] == false);

  // The CLI: one clear error and a non-zero exit, nothing written.
  TempDir dir;
  m::save_model_checkpoint(dir / "windowed", *m::build_model(trained_like));
  auto r = run_blt(fmt::format("export {} {} --format hf", dir / "windowed", dir / "out"));
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("model.document_mask is true") && Contains("--full-attention"));  // the first key checked
  CHECK_FALSE(fs::exists(dir / "out"));
  r = run_blt(fmt::format("export {} {} --format hf --full-attention", dir / "windowed", dir / "out"));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(fs::exists(dir / "out/model.safetensors"));
}

TEST_CASE("export: an existing OUT is refused; --force replaces only a model directory blt wrote", "[hf-export]") {
  TempDir dir;
  write_checkpoint(dir / "ckpt", tiny_blt());
  for (const std::string format : {"blt", "hf"}) {
    INFO(format);
    const std::string out = dir / ("out-" + format);
    const std::string command = fmt::format("export {} {} --format {}", dir / "ckpt", out, format);
    auto r = run_blt(command);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const auto first = read_file(out + "/model.safetensors");

    r = run_blt(command);  // no --force: refused, untouched
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Contains("already exists") && Contains("--force"));
    CHECK(read_file(out + "/model.safetensors") == first);

    r = run_blt(command + " --force");  // a directory blt wrote: replaced
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(read_file(out + "/model.safetensors") == first);

    blt::test::write_file(out + "/notes.txt", "mine");  // a user's file inside: refused even with --force
    r = run_blt(command + " --force");
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Contains("notes.txt"));
    CHECK(read_file(out + "/notes.txt") == "mine");
  }
  // A file, or a directory of something else, is never replaced.
  blt::test::write_file(dir / "file", "data");
  auto r = run_blt(fmt::format("export {} {} --force", dir / "ckpt", dir / "file"));
  CHECK(r.exit_code == 1);
  CHECK(read_file(dir / "file") == "data");
  blt::test::write_file(dir / "other/model.safetensors", "not safetensors");
  r = run_blt(fmt::format("export {} {} --force", dir / "ckpt", dir / "other"));
  CHECK(r.exit_code == 1);
  CHECK(read_file(dir / "other/model.safetensors") == "not safetensors");
  // No temporary siblings are left behind.
  for (const auto& entry : fs::directory_iterator(dir.str()))
    CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("export: a missing or foreign checkpoint and an unknown format give one clear error", "[hf-export]") {
  TempDir dir;
  write_checkpoint(dir / "ckpt", tiny_blt());
  auto r = run_blt(fmt::format("export {} {}", dir / "missing", dir / "out"));
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("missing: no such checkpoint directory"));

  blt::test::write_file(dir / "foreign/config.json", "{\"model_type\": \"llama\"}");
  r = run_blt(fmt::format("export {} {} --format hf", dir / "foreign", dir / "out"));
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("foreign: not a model checkpoint"));

  r = run_blt(fmt::format("export {} {} --format onnx", dir / "ckpt", dir / "out"));
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("--format is 'onnx': use blt or hf"));
  CHECK_FALSE(fs::exists(dir / "out"));
}
