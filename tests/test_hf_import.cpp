// The import path from the Hugging Face BltForCausalLM layout: a small checkpoint
// in that layout (written with blt's own safetensors writer, plus a config.json in
// the form transformers 5 saves) is imported, loaded and run.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "blt/core/error.h"
#include "blt/core/safetensors.h"
#include "blt/model/blt_model.h"
#include "blt/model/hf_import.h"
#include "blt/model/model_checkpoint.h"
#include "blt/model/patcher.h"
#include "blt/model/transformer_lm.h"
#include "model_test_util.h"

using blt::test::load_model_preset;
using blt::test::run_blt;
using blt::test::TempDir;
using Catch::Matchers::Contains;
using nlohmann::json;
namespace m = blt::model;
namespace st = blt::safetensors;

namespace {

// The tiny BLT and entropy model, with the attention HF BLT uses (causal over the whole sequence).
m::ModelConfig tiny_blt() {
  return load_model_preset("tiny", {"model.local_encoder.sliding_window=0", "model.local_decoder.sliding_window=0",
                                    "model.document_mask=false", "model.patching.mode=entropy",
                                    "model.patching.threshold=5.3", "model.patching.entropy_model=entropy"});
}
m::ModelConfig tiny_entropy() {
  return load_model_preset("entropy-tiny", {"model.transformer.sliding_window=0", "model.document_mask=false"});
}

json hf_sub_config(const m::TransformerShape& s) {
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

// config.json as transformers' BltConfig.save_pretrained writes it (the keys blt reads).
json hf_config(const m::ModelConfig& c, const m::ModelConfig& entropy) {
  json enc = hf_sub_config(c.local_encoder), dec = hf_sub_config(c.local_decoder);
  for (json* sub : {&enc, &dec}) {
    (*sub)["vocab_size"] = 260;
    (*sub)["cross_attn_k"] = c.cross_attn_k;
    (*sub)["hidden_size_global"] = c.global.dim;
  }
  enc["cross_attn_all_layers"] = c.cross_attn_all_encoder_layers;
  dec["cross_attn_all_layers"] = c.cross_attn_all_decoder_layers;
  json glo = hf_sub_config(c.global);
  glo["encoder_cross_output_size"] = c.local_encoder.dim * c.cross_attn_k == c.global.dim
                                         ? json(nullptr)
                                         : json(c.local_encoder.dim * c.cross_attn_k);
  json pat = hf_sub_config(entropy.transformer);
  pat["vocab_size"] = 260;
  return {{"architectures", {"BltForCausalLM"}},
          {"model_type", "blt"},
          {"vocab_size", 260},
          {"patch_in_forward", true},
          {"patch_size", 4},
          {"patching_mode", "entropy"},
          {"patching_threshold", c.patching.threshold},
          {"max_patch_length", nullptr},
          {"cross_attn_k", c.cross_attn_k},
          {"encoder_hash_byte_group_size", c.hash.ngram_sizes},
          {"encoder_hash_byte_group_vocab", c.hash.vocab},
          {"encoder_hash_byte_group_nb_functions", c.hash.functions},
          {"tie_word_embeddings", false},
          {"rope_parameters", nullptr},
          {"encoder_config", enc},
          {"decoder_config", dec},
          {"global_config", glo},
          {"patcher_config", pat}};
}

using Tensors = std::vector<std::pair<std::string, torch::Tensor>>;

Tensors hf_tensors(const torch::nn::Module& blt, const torch::nn::Module& entropy) {
  Tensors out;
  for (const auto& p : blt.named_parameters()) out.emplace_back(m::hf_name_of_blt(p.key()), p.value());
  for (const auto& p : entropy.named_parameters()) out.emplace_back(m::hf_name_of_entropy(p.key()), p.value());
  return out;
}

void write_hf_dir(const std::string& dir, const json& config, const Tensors& tensors) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << config.dump(2);
  st::write(dir + "/model.safetensors", tensors, {{"format", "pt"}});
}

std::map<std::string, std::vector<int64_t>> layout_map(const std::vector<m::TensorShape>& layout) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& t : layout) {
    REQUIRE(out.count(t.name) == 0);
    out[t.name] = t.shape;
  }
  return out;
}

std::map<std::string, std::vector<int64_t>> built_map(const m::ModelConfig& config) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& p : m::build_model(config)->named_parameters()) out[p.key()] = p.value().sizes().vec();
  return out;
}

}  // namespace

TEST_CASE("hf import: the parameter layout equals the built model for every structural option", "[hf_import]") {
  const std::vector<std::vector<std::string>> variants{
      {},
      {"model.global.dim=128", "model.cross_attn_k=2"},                                  // k * d_l == d_g: no projection
      {"model.cross_attn_k=3"},                                                          // global input projection
      {"model.cross_attn_all_encoder_layers=true", "model.local_encoder.layers=2"},
      {"model.cross_attn_all_decoder_layers=false"},
      {"model.local_encoder.kv_heads=2", "model.global.kv_heads=1", "model.local_decoder.kv_heads=2"},
      {"model.hash.functions=0"},
      {"model.hash.functions=2", "model.hash.ngram_sizes=[3, 5]"},
  };
  for (const auto& overrides : variants) {
    const auto config = load_model_preset("tiny", overrides);
    INFO(fmt::format("{}", fmt::join(overrides, " ")));
    CHECK(layout_map(m::parameter_layout(config)) == built_map(config));
  }
  CHECK(layout_map(m::parameter_layout(tiny_entropy())) == built_map(tiny_entropy()));
}

TEST_CASE("hf import: names follow the HF BltForCausalLM layout", "[hf_import]") {
  CHECK(m::hf_name_of_blt("local_encoder.layers.0.mlp.up_proj.weight") == "model.local_encoder.layers.0.mlp.up_proj.weight");
  CHECK(m::hf_name_of_blt("encoder_hash_tok_embedding.weight") == "model.encoder_hash_tok_embedding.weight");
  CHECK(m::hf_name_of_blt("lm_head.weight") == "lm_head.weight");
  CHECK(m::hf_name_of_entropy("layers.3.self_attn.q_proj.weight") == "model.patcher.layers.3.self_attn.q_proj.weight");
  CHECK(m::hf_name_of_entropy("lm_head.weight") == "model.patcher.lm_head.weight");
}

TEST_CASE("hf import: config.json translation", "[hf_import]") {
  const auto blt = tiny_blt();
  const auto entropy = tiny_entropy();
  auto cfg = hf_config(blt, entropy);
  const auto out = m::configs_from_hf(cfg, "config.json");
  CHECK(out.has_patcher);
  CHECK(out.blt.local_encoder.dim == blt.local_encoder.dim);
  CHECK(out.blt.global.layers == blt.global.layers);
  CHECK(out.blt.local_decoder.ffn_dim == blt.local_decoder.ffn_dim);
  CHECK(out.blt.local_encoder.sliding_window == 0);
  CHECK_FALSE(out.blt.document_mask);
  CHECK(out.blt.hash.vocab == blt.hash.vocab);
  CHECK(out.blt.hash.ngram_sizes == blt.hash.ngram_sizes);
  CHECK(out.blt.patching.mode == "entropy");
  CHECK(out.blt.patching.threshold == blt.patching.threshold);
  CHECK(out.blt.patching.entropy_model == "entropy");
  CHECK(out.entropy.type == "byte_lm");
  CHECK(out.entropy.transformer.rope_theta == entropy.transformer.rope_theta);
  CHECK(out.entropy.transformer.dim == entropy.transformer.dim);

  // transformers 4.x spelling of the RoPE base.
  auto old = cfg;
  old["global_config"].erase("rope_parameters");
  old["global_config"]["rope_theta"] = 1234.0;
  CHECK(m::configs_from_hf(old, "config.json").blt.global.rope_theta == 1234.0);

  auto bad = cfg;
  bad["decoder_config"]["cross_attn_k"] = 3;
  REQUIRE_THROWS_WITH(m::configs_from_hf(bad, "x/config.json"),
                      Contains("x/config.json") && Contains("'decoder_config.cross_attn_k' (3) differs"));
  bad = cfg;
  bad["encoder_config"]["rope_parameters"]["rope_type"] = "llama3";
  REQUIRE_THROWS_WITH(m::configs_from_hf(bad, "config.json"), Contains("'encoder_config.rope_parameters.rope_type'"));
  bad = cfg;
  bad["decoder_config"]["hidden_size_global"] = 64;
  REQUIRE_THROWS_WITH(m::configs_from_hf(bad, "config.json"), Contains("'decoder_config.hidden_size_global' (64)"));
  bad = cfg;
  bad["model_type"] = "llama";
  REQUIRE_THROWS_WITH(m::configs_from_hf(bad, "config.json"), Contains("'model_type' is 'llama'"));
  bad = cfg;
  bad["global_config"].erase("hidden_size");
  REQUIRE_THROWS_WITH(m::configs_from_hf(bad, "config.json"), Contains("missing 'global_config.hidden_size'"));
}

TEST_CASE("hf import: an imported checkpoint loads and computes what the source model computes", "[hf_import]") {
  torch::manual_seed(3);
  TempDir dir;
  auto gen = at::detail::createCPUGenerator(11);
  const auto tokens = blt::test::random_tokens(2, 40, gen, 0.0);
  const auto lengths = blt::test::random_patch_lengths(2, 40, 6, gen);
  const auto entropy_config = tiny_entropy();
  auto entropy = std::dynamic_pointer_cast<m::TransformerLM>(m::build_model(entropy_config));
  REQUIRE(entropy);
  entropy->eval();
  // A threshold in the middle of this untrained model's entropies gives patches of several sizes.
  auto blt_config = tiny_blt();
  {
    torch::NoGradGuard no_grad;
    blt_config.patching.threshold = m::next_byte_entropy(entropy->logits(tokens)).median().item<double>();
  }
  auto blt = std::dynamic_pointer_cast<m::BltModel>(m::build_model(blt_config));
  REQUIRE(blt);
  blt->eval();
  write_hf_dir(dir / "hf", hf_config(blt_config, entropy_config), hf_tensors(*blt, *entropy));

  const auto result = run_blt(fmt::format("import {} {}", dir / "hf", dir / "ckpt"));
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  REQUIRE(std::filesystem::exists(dir / "ckpt/model.safetensors"));
  REQUIRE(std::filesystem::exists(dir / "ckpt/entropy/config.yaml"));

  auto loaded = m::load_model_checkpoint(dir / "ckpt");
  loaded->eval();
  torch::NoGradGuard no_grad;
  const auto expected = blt->forward({tokens, lengths});
  CHECK(torch::equal(loaded->forward({tokens, lengths}), expected));

  // Without patch lengths the imported patcher (the HF patcher's weights) decides the boundaries.
  const m::Patcher patcher(blt_config.patching, entropy);
  const auto entropy_lengths = patcher.patch(tokens);
  CHECK(entropy_lengths.size(1) > 2);
  CHECK(entropy_lengths.size(1) < 40);
  CHECK(torch::equal(loaded->forward({tokens, {}}), blt->forward({tokens, entropy_lengths})));
}

TEST_CASE("hf import: missing, mis-shaped and unexpected tensors are named", "[hf_import]") {
  TempDir dir;
  const auto blt_config = tiny_blt();
  const auto entropy_config = tiny_entropy();
  auto blt = m::build_model(blt_config);
  auto entropy = m::build_model(entropy_config);
  const auto config = hf_config(blt_config, entropy_config);
  const auto tensors = hf_tensors(*blt, *entropy);
  auto expect_failure = [&](const Tensors& modified, const std::string& message) {
    std::filesystem::remove_all(dir / "hf");
    write_hf_dir(dir / "hf", config, modified);
    INFO(message);
    REQUIRE_THROWS_WITH(m::import_hf_checkpoint(dir / "hf", dir / "out"), Contains(message));
    CHECK_FALSE(std::filesystem::exists(dir / "out/model.safetensors"));
  };

  Tensors missing;
  for (const auto& t : tensors)
    if (t.first != "model.local_decoder.cross_attn_layers.1.k_norm.weight") missing.push_back(t);
  expect_failure(missing, "missing tensor 'model.local_decoder.cross_attn_layers.1.k_norm.weight'");

  Tensors reshaped = tensors;
  for (auto& t : reshaped)
    if (t.first == "model.global_transformer.layers.1.mlp.down_proj.weight") t.second = t.second.t().contiguous();
  expect_failure(reshaped, "tensor 'model.global_transformer.layers.1.mlp.down_proj.weight' has shape [352, 128]");

  Tensors extra = tensors;
  extra.emplace_back("model.local_encoder.extra.weight", torch::zeros({2}));
  expect_failure(extra, "unexpected tensor 'model.local_encoder.extra.weight'");

  Tensors no_patcher;
  for (const auto& t : tensors)
    if (t.first != "model.patcher.norm.weight") no_patcher.push_back(t);
  expect_failure(no_patcher, "missing tensor 'model.patcher.norm.weight'");
}

TEST_CASE("hf import: blt model logits saves the logits of given bytes and patch lengths", "[hf_import]") {
  torch::manual_seed(5);
  TempDir dir;
  const auto blt_config = tiny_blt();
  const auto entropy_config = tiny_entropy();
  auto blt = m::build_model(blt_config);
  auto entropy = std::dynamic_pointer_cast<m::TransformerLM>(m::build_model(entropy_config));
  blt->eval();
  m::save_model_checkpoint(dir / "ckpt", *blt);
  m::save_model_checkpoint(dir / "ckpt/entropy", *entropy);
  blt::test::write_file(dir / "text.txt", "Hello, world.");
  blt::test::write_file(dir / "lengths.txt", "1 3 2 8\n");

  auto result = run_blt(fmt::format("model logits {} --text-file {} --bos --patch-lengths {} --out {}", dir / "ckpt",
                                    dir / "text.txt", dir / "lengths.txt", dir / "out.safetensors"));
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  st::Reader out(dir / "out.safetensors");
  const auto tokens = out.load("tokens");
  REQUIRE(tokens.sizes() == c10::IntArrayRef({1, 14}));
  CHECK(tokens[0][0].item<int64_t>() == 1);
  CHECK(tokens[0][1].item<int64_t>() == 'H' + 4);
  const auto lengths = torch::tensor(std::vector<int64_t>{1, 3, 2, 8}).unsqueeze(0);
  CHECK(torch::equal(out.load("patch_lengths"), lengths));
  torch::NoGradGuard no_grad;
  CHECK(torch::equal(out.load("logits"), blt->forward({tokens, lengths})));

  // Without --patch-lengths: the checkpoint's entropy model patches, and its entropies are saved.
  result = run_blt(fmt::format("model logits {} --text-file {} --out {}", dir / "ckpt", dir / "text.txt",
                               dir / "auto.safetensors"));
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  st::Reader automatic(dir / "auto.safetensors");
  const m::Patcher patcher(blt_config.patching, entropy);
  const auto auto_tokens = automatic.load("tokens");
  CHECK(torch::equal(automatic.load("patch_lengths"), patcher.patch(auto_tokens)));
  CHECK(automatic.load("entropies").sizes() == auto_tokens.sizes());

  blt::test::write_file(dir / "bad.txt", "1 x 2\n");
  result = run_blt(fmt::format("model logits {} --text-file {} --patch-lengths {} --out {}", dir / "ckpt",
                               dir / "text.txt", dir / "bad.txt", dir / "o.safetensors"));
  CHECK(result.exit_code == 1);
  CHECK_THAT(result.output, Contains("patch length 1 is 'x'"));
}

TEST_CASE("hf import: sharded checkpoints and tied output embeddings", "[hf_import]") {
  TempDir dir;
  const auto blt_config = tiny_blt();
  const auto entropy_config = tiny_entropy();
  auto blt = m::build_model(blt_config);
  auto entropy = m::build_model(entropy_config);
  auto config = hf_config(blt_config, entropy_config);
  config["tie_word_embeddings"] = true;
  // Two shards behind an index; lm_head.weight absent because it is tied to the byte embedding.
  Tensors first, second;
  json weight_map = json::object();
  for (const auto& t : hf_tensors(*blt, *entropy)) {
    if (t.first == "lm_head.weight") continue;
    const bool in_first = t.first.find("global_transformer") == std::string::npos;
    (in_first ? first : second).push_back(t);
    weight_map[t.first] = in_first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  std::filesystem::create_directories(dir / "hf");
  std::ofstream(dir / "hf/config.json") << config.dump();
  std::ofstream(dir / "hf/model.safetensors.index.json") << json{{"metadata", json::object()}, {"weight_map", weight_map}}.dump();
  st::write(dir / "hf/model-00001-of-00002.safetensors", first);
  st::write(dir / "hf/model-00002-of-00002.safetensors", second);

  m::import_hf_checkpoint(dir / "hf", dir / "ckpt");
  st::Reader out(dir / "ckpt/model.safetensors");
  CHECK(torch::equal(out.load("lm_head.weight"), out.load("local_encoder.embed_tokens.weight")));
  CHECK(torch::equal(out.load("global_transformer.layers.1.mlp.up_proj.weight"),
                     blt->named_parameters()["global_transformer.layers.1.mlp.up_proj.weight"]));

  // Without the tie, the missing lm_head is an error.
  config["tie_word_embeddings"] = false;
  std::ofstream(dir / "hf/config.json") << config.dump();
  REQUIRE_THROWS_WITH(m::import_hf_checkpoint(dir / "hf", dir / "ckpt2"), Contains("missing tensor 'lm_head.weight'"));
}
