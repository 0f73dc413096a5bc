// Whole models: causality for every patcher (BLT) and for the byte and token
// LMs, fast paths == dense reference, forward+backward of the tiny preset,
// parameter counts (blt-1b by hand; shapes == built modules), the builds on a device and for a load.
#include "blt/model/blt_model.h"
#include "blt/model/model_checkpoint.h"
#include "blt/model/parameter_count.h"
#include "blt/model/patch_ids.h"
#include "blt/model/patcher.h"
#include "blt/model/transformer_lm.h"
#include "model_test_util.h"

using namespace blt::model;
using blt::test::load_model_preset;
using blt::test::max_abs_diff;

namespace {

std::shared_ptr<BltModel> tiny_blt(std::vector<std::string> overrides = {}) {
  torch::manual_seed(3);
  auto model = std::dynamic_pointer_cast<BltModel>(build_model(load_model_preset("tiny", overrides)));
  model->to(torch::kDouble);
  model->eval();
  return model;
}

std::shared_ptr<TransformerLM> tiny_entropy_model() {
  torch::manual_seed(4);
  auto lm = std::dynamic_pointer_cast<TransformerLM>(build_model(load_model_preset("entropy-tiny")));
  lm->to(torch::kDouble);
  lm->eval();
  return lm;
}

// Max |logit difference| at positions <= t between two inputs that agree up to t.
double prefix_change(const torch::Tensor& a, const torch::Tensor& b, int64_t t) {
  using torch::indexing::Slice;
  return max_abs_diff(a.index({Slice(), Slice(0, t + 1)}), b.index({Slice(), Slice(0, t + 1)}));
}

}  // namespace

TEST_CASE("blt causality: later bytes never change earlier logits under any patcher", "[model][causality]") {
  auto model = tiny_blt();
  auto entropy_lm = tiny_entropy_model();
  auto gen = at::detail::createCPUGenerator(21);
  const int64_t B = 2, L = 90;
  torch::NoGradGuard no_grad;
  for (const std::string mode : {"static", "space", "entropy", "entropy_monotonic"}) {
    PatchingConfig cfg;
    cfg.mode = mode;
    cfg.static_size = 3;
    cfg.max_patch_length = mode == "space" ? 5 : 0;
    auto patcher = std::make_shared<Patcher>(cfg, entropy_lm);
    if (mode == "entropy") {
      cfg.threshold = patcher->entropies(blt::test::random_tokens(B, L, gen)).median().item<double>();
      patcher = std::make_shared<Patcher>(cfg, entropy_lm);
    } else if (mode == "entropy_monotonic") {
      cfg.monotonic_threshold = 0.02;
      patcher = std::make_shared<Patcher>(cfg, entropy_lm);
    }
    int moved_boundaries = 0;
    for (int64_t t : {0, 1, 2, 17, 45, 88}) {
      // Space-heavy text so that space patching has boundaries to move.
      auto x = blt::test::random_tokens(B, L, gen);
      x = torch::where(torch::rand({B, L}, gen).lt(0.2), torch::full_like(x, ' ' + 4), x);
      auto y = x.clone();
      using torch::indexing::Slice;
      y.index_put_({Slice(), Slice(t + 1)}, blt::test::random_tokens(B, L - t - 1, gen));
      auto lx = patcher->patch(x), ly = patcher->patch(y);
      if (!torch::equal(lx, ly)) ++moved_boundaries;
      auto out_x = model->forward({x, lx});
      auto out_y = model->forward({y, ly});
      INFO("mode " << mode << " t " << t);
      CHECK(prefix_change(out_x, out_y, t) < 1e-10);
      // The check can fail: changing byte t itself does change logit t.
      auto z = x.clone();
      z.index_put_({Slice(), t}, (x.index({Slice(), t}) - 4 + 1) % 256 + 4);
      CHECK(prefix_change(model->forward({z, patcher->patch(z)}), out_x, t) > 1e-6);
    }
    INFO("mode " << mode);
    CHECK(moved_boundaries >= (mode == "static" ? 0 : 3));
  }
}

TEST_CASE("blt: patching inside forward equals given patch lengths", "[model][blt]") {
  auto model = tiny_blt({"model.patching.mode=space"});
  auto gen = at::detail::createCPUGenerator(22);
  auto x = blt::test::random_tokens(2, 40, gen);
  torch::NoGradGuard no_grad;
  PatchingConfig cfg;
  cfg.mode = "space";
  auto lengths = Patcher(cfg, nullptr).patch(x);
  CHECK(max_abs_diff(model->forward({x, {}}), model->forward({x, lengths})) == 0.0);
  auto entropy_model = tiny_blt({"model.patching.mode=entropy"});
  REQUIRE_THROWS_WITH(entropy_model->forward({x, {}}), Catch::Matchers::Contains("entropy model"));
}

TEST_CASE("byte and token LMs are causal", "[model][causality]") {
  auto gen = at::detail::createCPUGenerator(23);
  torch::NoGradGuard no_grad;
  for (const std::string preset : {"entropy-tiny", "token-small"}) {
    std::vector<std::string> overrides;
    if (preset == "token-small")
      overrides = {"model.vocab_size=300", "model.transformer.dim=32", "model.transformer.layers=2",
                   "model.transformer.heads=4", "model.transformer.kv_heads=2", "model.transformer.ffn_dim=64"};
    torch::manual_seed(5);
    auto lm = build_model(load_model_preset(preset, overrides));
    lm->to(torch::kDouble);
    const int64_t L = 150, V = lm->config().vocab_size;
    for (int64_t t : {0, 63, 64, 100, 148}) {
      auto x = torch::randint(0, V, {2, L}, gen, torch::kLong);
      auto y = x.clone();
      using torch::indexing::Slice;
      y.index_put_({Slice(), Slice(t + 1)}, torch::randint(0, V, {2, L - t - 1}, gen, torch::kLong));
      INFO(preset << " t " << t);
      auto out_x = lm->forward({x, {}});
      CHECK(prefix_change(out_x, lm->forward({y, {}}), t) < 1e-10);
      CHECK(out_x.size(2) == V);
    }
  }
}

TEST_CASE("blt: fast attention paths equal the dense-mask model in float64", "[model][blt]") {
  // 300 bytes with a 64-byte window: local attention runs block by block.
  auto model = tiny_blt({"model.cross_attn_all_encoder_layers=true", "model.local_encoder.layers=2",
                         "model.local_encoder.kv_heads=2", "model.cross_attn_all_decoder_layers=false"});
  auto gen = at::detail::createCPUGenerator(24);
  torch::NoGradGuard no_grad;
  for (int trial = 0; trial < 2; ++trial) {
    auto x = blt::test::random_tokens(2, 300, gen);
    auto lengths = blt::test::random_patch_lengths(2, 300, 9, gen);
    auto fast = model->forward({x, lengths});
    auto dense = model->forward_dense_reference({x, lengths});
    CHECK(max_abs_diff(fast, dense) < 1e-10);
    CHECK(fast.size(2) == 260);
  }
}

TEST_CASE("blt: document boundaries stop local attention", "[model][blt]") {
  auto model = tiny_blt({"model.hash.functions=0"});  // no n-grams reaching back across the EOS
  auto gen = at::detail::createCPUGenerator(25);
  torch::NoGradGuard no_grad;
  // Same second document after different first documents: with static patches
  // aligned to the boundary, only the global (patch) path carries information across.
  auto a = blt::test::random_tokens(1, 40, gen, 0.0), b = a.clone();
  a[0][12] = 2;
  b[0][12] = 2;
  using torch::indexing::Slice;
  b.index_put_({0, Slice(0, 12)}, blt::test::random_tokens(1, 12, gen, 0.0)[0]);
  auto lengths = torch::tensor({1, 12, 9, 9, 9}, torch::kLong).view({1, 5});
  auto embed_a = model->embed(a), embed_b = model->embed(b);
  AttentionPattern local;
  local.window = 64;
  local.document_ids = document_ids_from_tokens(a, 2);
  auto ids = blt::model::patch_ids_from_lengths(lengths, 40);
  auto enc_a = model->local_encoder->forward(embed_a, local, ids, 5, false);
  auto enc_b = model->local_encoder->forward(embed_b, local, ids, 5, false);
  // Byte states of the second document (from position 13) do not see the first one.
  CHECK(max_abs_diff(enc_a.byte_states.index({0, Slice(13)}), enc_b.byte_states.index({0, Slice(13)})) < 1e-12);
  // Without the document mask they do.
  local.document_ids = torch::Tensor();
  auto open_a = model->local_encoder->forward(embed_a, local, ids, 5, false);
  auto open_b = model->local_encoder->forward(embed_b, local, ids, 5, false);
  CHECK(max_abs_diff(open_a.byte_states.index({0, Slice(13)}), open_b.byte_states.index({0, Slice(13)})) > 1e-6);
  CHECK(max_abs_diff(enc_a.byte_states.index({0, Slice(0, 12)}), enc_b.byte_states.index({0, Slice(0, 12)})) > 1e-6);
}

TEST_CASE("tiny blt: forward and backward on CPU", "[model][blt]") {
  torch::manual_seed(6);
  auto config = load_model_preset("tiny");
  auto model = build_model(config);
  CHECK(count_parameters(*model) < 1000000);
  auto gen = at::detail::createCPUGenerator(26);
  auto tokens = blt::test::random_tokens(2, 65, gen);
  auto inputs = tokens.narrow(1, 0, 64), targets = tokens.narrow(1, 1, 64);
  auto logits = model->forward({inputs, {}});  // static patching from the preset
  REQUIRE(logits.sizes() == torch::IntArrayRef({2, 64, 260}));
  auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, 260}), targets.reshape({-1}));
  CHECK(loss.item<double>() == Approx(std::log(260.0)).margin(0.5));
  loss.backward();
  int64_t with_grad = 0, total = 0;
  for (const auto& item : model->named_parameters()) {
    ++total;
    REQUIRE(item.value().grad().defined());
    CHECK(torch::isfinite(item.value().grad()).all().item<bool>());
    if (item.value().grad().abs().sum().item<double>() > 0) ++with_grad;
  }
  CHECK(with_grad == total);
  REQUIRE_THROWS_WITH(model->forward({torch::full({1, 4097}, 10, torch::kLong), {}}),
                      Catch::Matchers::Contains("model.local_encoder.max_seq_len"));
  auto groups = parameter_groups(*model);
  CHECK(groups.decay.size() + groups.no_decay.size() == static_cast<std::size_t>(total));
  for (const auto& [name, p] : groups.no_decay) CHECK(p.dim() == 1);
}

TEST_CASE("activation checkpointing gives the same gradients as storing activations", "[model][blt]") {
  auto gen = at::detail::createCPUGenerator(27);
  const auto tokens = blt::test::random_tokens(2, 97, gen);
  const auto inputs = tokens.narrow(1, 0, 96), targets = tokens.narrow(1, 1, 96);
  for (const std::string preset : {"tiny", "entropy-tiny"}) {
    std::map<std::string, torch::Tensor> grads[2];
    double losses[2];
    for (int recompute = 0; recompute < 2; ++recompute) {
      torch::manual_seed(8);
      auto model = build_model(load_model_preset(preset));
      model->to(torch::kDouble);
      model->train();
      model->set_activation_checkpointing(recompute == 1);
      auto logits = model->forward({inputs, {}});
      auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, 260}), targets.reshape({-1}));
      loss.backward();
      losses[recompute] = loss.item<double>();
      for (const auto& item : model->named_parameters()) {
        REQUIRE(item.value().grad().defined());
        grads[recompute][item.key()] = item.value().grad().clone();
      }
    }
    INFO(preset);
    CHECK(losses[0] == losses[1]);
    REQUIRE(grads[0].size() == grads[1].size());
    for (const auto& [name, g] : grads[0]) {
      INFO(name);
      CHECK(max_abs_diff(g, grads[1].at(name)) <= 1e-12 * (1 + g.abs().max().item<double>()));
    }
  }
}

TEST_CASE("parameter counts: shapes agree with built models", "[model][params]") {
  std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"tiny", {}},
      {"tiny", {"model.cross_attn_all_encoder_layers=true", "model.cross_attn_all_decoder_layers=false",
                "model.global.kv_heads=2", "model.global.dim=96", "model.global.heads=4", "model.hash.functions=2"}},
      {"entropy-tiny", {}},
      {"token-small", {"model.transformer.dim=64", "model.transformer.heads=4", "model.transformer.kv_heads=2"}},
  };
  for (const auto& [preset, overrides] : cases) {
    auto config = load_model_preset(preset, overrides);
    auto model = build_model(config);
    auto built = model->parameter_counts();
    auto shapes = parameter_counts_from_shapes(config);
    REQUIRE(built.size() == shapes.size());
    for (std::size_t i = 0; i < built.size(); ++i) {
      INFO(preset << " " << built[i].component);
      CHECK(built[i].component == shapes[i].component);
      CHECK(built[i].parameters == shapes[i].parameters);
    }
    CHECK(total_parameters(built) == count_parameters(*model));
  }
}

TEST_CASE("parameter counts: blt-1b equals the hand computation", "[model][params]") {
  const int64_t dl = 1024, dg = 2048, ffl = 2816, ffg = 5632;
  const int64_t local_layer = 4 * dl * dl + 3 * dl * ffl + 2 * dl;   // attention, SwiGLU, two norms
  const int64_t global_layer = 4 * dg * dg + 3 * dg * ffg + 2 * dg;
  const int64_t cross = 4 * dl * dl + 2 * dl;                        // q, k, v, o and q_norm, k_norm
  const int64_t embeddings = 260 * dl;
  const int64_t hash = 6 * 500002 * dl;
  const int64_t encoder = 1 * local_layer + dl * 2 * dl + 1 * cross;  // one layer, pooling after it
  const int64_t global = 25 * global_layer;                            // 2 * 1024 == 2048: no projection
  const int64_t decoder = 9 * local_layer + dg * 2 * dl + 9 * cross + dl;
  const int64_t head = dl * 260;
  const int64_t total = embeddings + hash + encoder + global + decoder + head;
  CHECK(total == 4533879808LL);
  CHECK(total - embeddings - hash == 1461601280LL);
  auto counts = parameter_counts_from_shapes(load_model_preset("blt-1b"));
  CHECK(total_parameters(counts) == total);
  CHECK(counts[1].parameters == hash);
  CHECK(counts[3].parameters == global);
  CHECK(counts[4].parameters == decoder);
}

TEST_CASE("model config: cross-field errors name the keys", "[model][config]") {
  auto bad_heads = load_model_preset("tiny", {"model.global.heads=3"});
  REQUIRE_THROWS_WITH(bad_heads.validate(), Catch::Matchers::Contains("model.global.heads"));
  auto bad_dims = load_model_preset("tiny", {"model.local_decoder.dim=128", "model.local_decoder.heads=4"});
  REQUIRE_THROWS_WITH(bad_dims.validate(), Catch::Matchers::Contains("model.local_decoder.dim"));
  auto bad_kv = load_model_preset("entropy-tiny", {"model.transformer.kv_heads=3"});
  REQUIRE_THROWS_WITH(bad_kv.validate(), Catch::Matchers::Contains("model.transformer.kv_heads"));
  REQUIRE_THROWS_WITH(load_model_preset("tiny", {"model.patching.mode=fancy"}), Catch::Matchers::Contains("patching.mode"));
}

TEST_CASE("blt model info prints the counts per component", "[model][cli]") {
  auto r = blt::test::run_blt("model info " + blt::test::source_path("configs/model/blt-1b.yaml"));
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Matchers::Contains("4533879808") && Catch::Matchers::Contains("hash_embeddings"));
  auto tiny = blt::test::run_blt("model info " + blt::test::source_path("configs/model/tiny.yaml") + " --build");
  CHECK(tiny.exit_code == 0);
  CHECK_THAT(tiny.output, Catch::Matchers::Contains("counts agree"));
  auto bad = blt::test::run_blt("model info " + blt::test::source_path("configs/model/tiny.yaml") + " --set model.global.heads=3");
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.output, Catch::Matchers::Contains("model.global.heads"));
}

TEST_CASE("byte LM: KV-cache decoding equals the full forward for any window", "[model][causality]") {
  auto gen = at::detail::createCPUGenerator(27);
  torch::NoGradGuard no_grad;
  for (int64_t window : {1, 3, 0}) {
    torch::manual_seed(9);
    auto lm = std::dynamic_pointer_cast<TransformerLM>(build_model(load_model_preset(
        "entropy-tiny", {"model.transformer.sliding_window=" + std::to_string(window), "model.transformer.kv_heads=2"})));
    lm->to(torch::kDouble);
    auto tokens = blt::test::random_tokens(2, 30, gen, 0.1);
    auto full = lm->logits(tokens);
    LMCache cache;
    std::vector<torch::Tensor> steps;
    for (int64_t t = 0; t < 30; ++t) steps.push_back(lm->step(tokens.select(1, t), cache));
    INFO("window " << window);
    CHECK(max_abs_diff(torch::stack(steps, 1), full) < 1e-10);
  }
}

// build_model_on makes the parameters on their device and leaves their values to init_weights (no
// draws of the modules' own, no host copy): a seed gives one model there, with the names and shapes
// of the seeded CPU build, and every tensor drawn from init_weights' distribution, not left as the
// device's memory was. The spread is checked against the seeded build's tensor of the same name (the
// same distribution, independently drawn): two estimates of a standard deviation from n values
// each differ by ~1/sqrt(n) relative, and six times that is the bound.
TEST_CASE("build_model_on: parameters made on the device, initialised there as init_weights draws them", "[model]") {
  for (const auto& device : blt::test::cpu_and_cuda()) {
    for (const std::string preset : {"tiny", "entropy-tiny"}) {
      INFO(device.str() << " " << preset);
      const auto config = load_model_preset(preset);
      torch::manual_seed(3);
      const auto placed = build_model_on(config, device);
      torch::manual_seed(3);
      const auto again = build_model_on(config, device);
      torch::manual_seed(3);
      const auto seeded = build_model(config);
      const auto p = placed->named_parameters(), q = again->named_parameters(), s = seeded->named_parameters();
      REQUIRE(p.size() == s.size());
      for (std::size_t i = 0; i < p.size(); ++i) {
        INFO(p[i].key());
        const auto value = p[i].value().detach(), reference = s[i].value().detach();
        REQUIRE(p[i].key() == s[i].key());
        REQUIRE(value.sizes() == reference.sizes());
        CHECK(value.device().type() == device.type());  // "cuda" places on the current GPU, "cuda:0"
        CHECK(torch::equal(value, q[i].value()));
        if (value.dim() == 1) {
          CHECK(torch::equal(value, torch::ones_like(value)));  // norm scales start at 1
          continue;
        }
        const auto v = value.cpu().to(torch::kDouble);
        REQUIRE(torch::isfinite(v).all().item<bool>());
        const double n = static_cast<double>(v.numel()), spread = v.std().item<double>();
        const double expected = reference.to(torch::kDouble).std().item<double>();
        CHECK(std::abs(spread - expected) <= 6.0 / std::sqrt(n) * expected);
        // Cut at 3 standard deviations of the untruncated normal (0.9866 of which is the cut one's).
        CHECK(v.abs().max().item<double>() <= 3.0 / 0.9866 * expected * (1.0 + 6.0 / std::sqrt(n)));
      }
    }
  }
}

// A model built for a checkpoint load draws nothing (the CPU generator is where the seed left it)
// and the load fills every parameter: the loaded model is the saved one.
TEST_CASE("build_model_for_load: nothing drawn, every parameter filled by the load", "[model]") {
  blt::test::TempDir dir;
  const auto config = load_model_preset("tiny");
  torch::manual_seed(4);
  const auto saved = build_model(config);
  save_model_checkpoint(dir / "ckpt", *saved);
  torch::manual_seed(5);
  const auto expected_draw = torch::rand({4});
  torch::manual_seed(5);
  const auto empty = build_model_for_load(config);
  CHECK(torch::equal(torch::rand({4}), expected_draw));
  CHECK(empty->named_parameters().size() == saved->named_parameters().size());
  const auto loaded = load_model_checkpoint(dir / "ckpt");
  const auto p = loaded->named_parameters(), q = saved->named_parameters();
  REQUIRE(p.size() == q.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    INFO(p[i].key());
    CHECK(torch::equal(p[i].value(), q[i].value()));
  }
}
