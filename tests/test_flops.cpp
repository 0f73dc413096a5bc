// FLOP accounting (spec section 5) against a hand computation of the blt-1b preset.
#include <nlohmann/json.hpp>

#include "blt/train/flops.h"
#include "helpers.h"
#include "model_test_util.h"

using namespace blt;

namespace {

double component(const std::vector<train::FlopComponent>& parts, const std::string& name) {
  for (const auto& c : parts)
    if (c.name == name) return c.flops;
  FAIL("no FLOP component " << name);
  return 0;
}

}  // namespace

// blt-1b (configs/model/blt-1b.yaml): local d = 1024 (16 heads of 64, FFN 2816,
// window 512; encoder 1 layer, decoder 9), global d = 2048 (25 layers, 16 heads,
// FFN 5632), k = 2, 260 outputs. L = 16384 bytes in patches of 4.5 bytes:
// P = L / 4.5 patches. Training counts 3x the forward matmuls and 3.5x the
// forward attention (4 d FLOPs per query-key pair: QK^T and AV).
TEST_CASE("flops: blt-1b per byte equals the hand computation", "[train][flops]") {
  const double L = 16384, P = L / 4.5;

  // One local layer, per byte: q, k, v, o projections (4 x 2 d^2) and SwiGLU (3 x 2 d f);
  // each byte attends to 512 - 512^2 / (2 L) = 504 keys on average (causal window).
  const double local_matmul = 4 * 2.0 * 1024 * 1024 + 3 * 2.0 * 1024 * 2816;  // 25 690 112
  const double local_attention = 4.0 * 1024 * 504;                              //  2 064 384
  const double local_layer = 3 * local_matmul + 3.5 * local_attention;          // 84 295 680
  const double encoder = 1 * local_layer;
  const double decoder = 9 * local_layer;

  // Encoder pooling (last encoder layer): the max-pooled patch vector projected to
  // k d_l per patch; k P queries (q, o projections), L bytes as keys/values (k, v
  // projections); each query sees the bytes of its patch, L / P = 4.5 on average.
  const double pooling = (3 * P * 2.0 * 1024 * 2048 + 3 * (2 * P * 2 * 2.0 * 1024 * 1024 + L * 2 * 2.0 * 1024 * 1024) +
                          3.5 * 2 * P * 4.0 * 1024 * 4.5) /
                         L;

  // Global: 25 layers over P patches, causal (P / 2 keys per query on average); k d_l = d_g, no projection.
  const double global_matmul = 4 * 2.0 * 2048 * 2048 + 3 * 2.0 * 2048 * 5632;  // 102 760 448
  const double global = 25 * P * (3 * global_matmul + 3.5 * 4.0 * 2048 * (P / 2)) / L;

  // Decoder reading (all 9 layers): the global output projected to k d_l once; per
  // layer L byte queries (q, o), k P patch rows as keys/values (k, v), k keys per byte.
  const double reading = (3 * P * 2.0 * 2048 * 2048 +
                          9 * (3 * (L * 2 * 2.0 * 1024 * 1024 + 2 * P * 2 * 2.0 * 1024 * 1024) + 3.5 * L * 4.0 * 1024 * 2)) /
                         L;
  const double head = 3 * 2.0 * 1024 * 260;
  const double total = encoder + pooling + global + reading + decoder + head;
  CHECK(total == Approx(3.0376e9).epsilon(1e-4));  // the number docs/flops.md states

  const auto config = test::load_model_preset("blt-1b");
  const auto parts = train::sequence_flops(config, 16384, P, /*training=*/true);
  CHECK(component(parts, "local_encoder") / L == Approx(encoder).epsilon(1e-12));
  CHECK(component(parts, "encoder_cross_attention") / L == Approx(pooling).epsilon(1e-12));
  CHECK(component(parts, "global") / L == Approx(global).epsilon(1e-12));
  CHECK(component(parts, "decoder_cross_attention") / L == Approx(reading).epsilon(1e-12));
  CHECK(component(parts, "local_decoder") / L == Approx(decoder).epsilon(1e-12));
  CHECK(component(parts, "head") / L == Approx(head).epsilon(1e-12));
  CHECK(train::total(parts) / L == Approx(total).epsilon(1e-12));

  // Inference: forward only (1x matmuls, 1x attention).
  const double inference = (local_matmul + local_attention) * 10 + head / 3 +
                           (P * 2.0 * 1024 * 2048 + 2 * P * 2 * 2.0 * 1024 * 1024 + L * 2 * 2.0 * 1024 * 1024 +
                            2 * P * 4.0 * 1024 * 4.5) / L +
                           25 * P * (global_matmul + 4.0 * 2048 * (P / 2)) / L +
                           (P * 2.0 * 2048 * 2048 + 9 * (L * 2 * 2.0 * 1024 * 1024 + 2 * P * 2 * 2.0 * 1024 * 1024 +
                                                         L * 4.0 * 1024 * 2)) / L;
  CHECK(train::total(train::sequence_flops(config, 16384, P, false)) / L == Approx(inference).epsilon(1e-12));

  // The command prints the same numbers.
  const auto r = test::run_blt("flops " + test::source_path("configs/model/blt-1b.yaml") +
                               " --seq-len 16384 --patch-size 4.5 --json");
  REQUIRE(r.exit_code == 0);
  const auto printed = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  CHECK(printed["train_per_byte"]["total"].get<double>() == Approx(total).epsilon(1e-12));
  CHECK(printed["train_per_byte"]["global"].get<double>() == Approx(global).epsilon(1e-12));
  CHECK(printed["inference_per_byte"]["total"].get<double>() == Approx(inference).epsilon(1e-12));
}

TEST_CASE("flops: the entropy model counts at inference only; a token LM per token and per byte", "[train][flops]") {
  const auto blt = test::load_model_preset("blt-1b");
  const auto entropy = test::load_model_preset("entropy-100m");
  const double P = 4096 / 4.5;
  const auto without = train::sequence_flops(blt, 4096, P, false);
  const auto with = train::sequence_flops(blt, 4096, P, false, &entropy);
  // A byte LM forward per byte: its layers (window attention) and its 260-way head.
  const double entropy_alone = train::total(train::sequence_flops(entropy, 4096, 0, false));
  CHECK(train::total(with) - train::total(without) == Approx(entropy_alone).epsilon(1e-12));
  CHECK(component(with, "entropy_model") == Approx(entropy_alone).epsilon(1e-12));

  // Token LM: the per-byte cost is the per-token cost over bytes per token.
  const auto token = test::load_model_preset("token-small");
  const auto r = test::run_blt("flops " + test::source_path("configs/model/token-small.yaml") +
                               " --seq-len 1024 --bytes-per-token 4 --json");
  REQUIRE(r.exit_code == 0);
  const auto printed = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  const double per_token = train::total(train::sequence_flops(token, 1024, 0, true)) / 1024;
  CHECK(printed["train_per_token"].get<double>() == Approx(per_token).epsilon(1e-12));
  CHECK(printed["train_per_byte"]["total"].get<double>() == Approx(per_token / 4).epsilon(1e-12));

  const auto bad = test::run_blt("flops " + test::source_path("configs/model/token-small.yaml") +
                                 " --entropy-model " + test::source_path("configs/model/entropy-100m.yaml"));
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.output, Catch::Matchers::Contains("--entropy-model applies to blt models only"));
}
