// Parameter names follow the Hugging Face BltForCausalLM layout (without "model."),
// which the checkpoint importer relies on.
#include "blt/model/blt_model.h"
#include "model_test_util.h"

TEST_CASE("blt parameter names and shapes follow the Hugging Face layout", "[model][names]") {
  auto config = blt::test::load_model_preset("tiny", {"model.global.dim=96", "model.global.heads=4"});
  auto model = blt::model::build_model(config);
  auto params = model->named_parameters();
  const std::vector<std::pair<std::string, std::vector<int64_t>>> expected = {
      {"local_encoder.embed_tokens.weight", {260, 64}},
      {"encoder_hash_tok_embedding.weight", {6 * 500, 64}},
      {"local_encoder.layers.0.input_layernorm.weight", {64}},
      {"local_encoder.layers.0.self_attn.q_proj.weight", {64, 64}},
      {"local_encoder.layers.0.mlp.down_proj.weight", {64, 176}},
      {"local_encoder.layers.0.post_attention_layernorm.weight", {64}},
      {"local_encoder.patch_embedding_projection.weight", {128, 64}},
      {"local_encoder.cross_attn_layers.0.q_norm.weight", {64}},
      {"local_encoder.cross_attn_layers.0.k_norm.weight", {64}},
      {"local_encoder.cross_attn_layers.0.o_proj.weight", {64, 64}},
      {"global_transformer.token_embedding_projection.weight", {96, 128}},
      {"global_transformer.layers.1.mlp.gate_proj.weight", {352, 96}},
      {"local_decoder.patch_embedding_projection.weight", {128, 96}},
      {"local_decoder.cross_attn_layers.1.v_proj.weight", {64, 64}},
      {"local_decoder.layers.1.self_attn.k_proj.weight", {64, 64}},
      {"local_decoder.norm.weight", {64}},
      {"lm_head.weight", {260, 64}},
  };
  for (const auto& [name, shape] : expected) {
    INFO(name);
    REQUIRE(params.contains(name));
    CHECK(params[name].sizes() == torch::IntArrayRef(shape));
  }
  auto lm = blt::model::build_model(blt::test::load_model_preset("entropy-tiny"));
  for (const std::string name : {"embed_tokens.weight", "layers.1.self_attn.o_proj.weight", "norm.weight", "lm_head.weight"})
    CHECK(lm->named_parameters().contains(name));
}
