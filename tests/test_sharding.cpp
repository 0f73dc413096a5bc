// The pieces of sharding that need no second process: flat layouts, units,
// sharded checkpoints written by N ranks and read back by M, and the sharded
// updates against ddp within one process.
#include "blt/model/blt_model.h"
#include "blt/parallel/flat_layout.h"
#include "blt/parallel/param_units.h"
#include "blt/parallel/param_update.h"
#include "blt/parallel/sharded_checkpoint.h"
#include "model_test_util.h"

using blt::parallel::FlatLayout;
using blt::parallel::ParamShapes;
using blt::parallel::ParamSlice;
using Catch::Matchers::Contains;

TEST_CASE("flat layout: chunks cover every element once, padded to the world size", "[dist]") {
  const FlatLayout layout({{"a", {2, 3}, true}, {"b", {4}, false}, {"c", {1}, false}}, 3);
  CHECK(layout.shard_numel() == 4);  // 11 elements -> 12
  CHECK(layout.padded_numel() == 12);
  CHECK(layout.entries()[1].offset == 6);
  std::vector<int> owners(11, 0);
  for (int rank = 0; rank < 3; ++rank) {
    for (const auto& p : layout.pieces(rank)) {
      const auto& e = layout.entries()[p.entry];
      CHECK(p.shard_offset == e.offset + p.begin - rank * layout.shard_numel());
      for (int64_t i = 0; i < p.count; ++i) ++owners[e.offset + p.begin + i];
    }
  }
  CHECK(owners == std::vector<int>(11, 1));
  // Rank 1 owns elements [4, 8): the last two of a and the first two of b.
  const auto pieces = layout.pieces(1);
  REQUIRE(pieces.size() == 2);
  CHECK((pieces[0].entry == 0 && pieces[0].begin == 4 && pieces[0].count == 2 && pieces[0].shard_offset == 0));
  CHECK((pieces[1].entry == 1 && pieces[1].begin == 0 && pieces[1].count == 2 && pieces[1].shard_offset == 2));
}

TEST_CASE("param units: one per transformer block and per embedding table, the rest together", "[dist]") {
  const auto t = torch::zeros({1});
  const auto units = blt::parallel::split_into_units({{"local_encoder.embed_tokens.weight", t},
                                                  {"local_encoder.layers.0.attn.wq.weight", t},
                                                  {"local_encoder.layers.0.norm.weight", t},
                                                  {"encoder_hash_tok_embedding.weight", t},
                                                  {"global_transformer.layers.1.mlp.w1.weight", t},
                                                  {"local_decoder.patch_embedding_projection.weight", t},
                                                  {"lm_head.weight", t},
                                                  {"norm.weight", t}});
  std::vector<std::string> names;
  for (const auto& u : units) names.push_back(u.name);
  CHECK(names == std::vector<std::string>{"local_encoder.embed_tokens", "local_encoder.layers.0",
                                          "encoder_hash_tok_embedding", "global_transformer.layers.1", "rest"});
  CHECK(units[1].params.size() == 2);
  CHECK(units[4].params.size() == 3);
}

TEST_CASE("sharded checkpoint: written by 2 ranks, read back in 3 chunks", "[dist]") {
  blt::test::TempDir dir;
  const auto a = torch::arange(6, torch::kFloat).view({2, 3}), b = torch::arange(10, 15, torch::kFloat);
  const ParamShapes shapes = {{"a", {2, 3}}, {"b", {5}}};
  // The 2-rank layout of [a, b] (11 elements, chunks of 6): rank 0 a[0:6], rank 1 b[0:5].
  const auto parts = [](const torch::Tensor& t) {
    return std::map<std::string, torch::Tensor>{{"param", t}, {"exp_avg", t * 2}, {"exp_avg_sq", t * 3}};
  };
  blt::parallel::write_shard(dir.str(), 0, 2, {{"a", 0, parts(a.view({-1}))}});
  blt::parallel::write_shard(dir.str(), 1, 2, {{"b", 0, parts(b)}});
  blt::parallel::write_shard_manifest(dir.str(), 2, 7, shapes);

  const blt::parallel::ShardReader reader(dir.str());
  CHECK(reader.world_size() == 2);
  CHECK(reader.optimizer_steps() == 7);
  reader.check_shapes(shapes);
  // A slice across the old boundary is assembled from both files; here a[4:6] + b[0:2] as two slices.
  ParamSlice tail_of_a{"a", 4, parts(torch::zeros({2}))}, head_of_b{"b", 0, parts(torch::zeros({2}))};
  reader.read(tail_of_a);
  reader.read(head_of_b);
  CHECK(torch::equal(tail_of_a.parts.at("param"), torch::tensor({4.f, 5.f})));
  CHECK(torch::equal(tail_of_a.parts.at("exp_avg_sq"), torch::tensor({12.f, 15.f})));
  CHECK(torch::equal(head_of_b.parts.at("exp_avg"), torch::tensor({20.f, 22.f})));

  REQUIRE_THROWS_WITH(reader.check_shapes({{"a", {3, 2}}, {"b", {5}}}),
                      Contains("parameter 'a' has shape [2, 3] in the checkpoint, the model needs [3, 2]"));
  REQUIRE_THROWS_WITH(reader.check_shapes({{"a", {2, 3}}}), Contains("parameter 'b' is not in the model"));
  ParamSlice beyond{"b", 4, parts(torch::zeros({3}))};
  REQUIRE_THROWS_WITH(reader.read(beyond), Contains("elements [4, 7) of parameter 'b' are not all in the shard files"));
}

TEST_CASE("param update: zero2 and fsdp (with and without recomputation) steps equal ddp's in one process, fsdp frees blocks after use",
          "[dist]") {
  const auto config = blt::test::load_model_preset("tiny");
  blt::train::OptimizerConfig opt;
  opt.lr = 1e-2;
  blt::parallel::Comm comm;
  torch::Generator gen = at::detail::createCPUGenerator(5);
  const blt::model::ModelInput input{blt::test::random_tokens(2, 32, gen), torch::Tensor()};
  std::map<std::string, std::shared_ptr<blt::model::CausalLM>> models;
  std::map<std::string, std::unique_ptr<blt::parallel::ParamUpdate>> updates;
  // "fsdp+recompute": fsdp with activation checkpointing, whose recomputation in
  // backward gathers each block again through the same hook.
  const std::vector<std::string> runs = {"ddp", "zero2", "fsdp", "fsdp+recompute"};
  for (const auto& run : runs) {
    torch::manual_seed(1);
    models[run] = blt::model::build_model(config);
    models[run]->set_activation_checkpointing(run == "fsdp+recompute");
    updates[run] = blt::parallel::make_param_update(blt::parallel::DistConfig{run.substr(0, run.find('+'))}, *models[run], comm, opt);
  }
  // Bytes behind the parameters whose names start with `prefix`.
  const auto memory = [&](const std::string& strategy, const std::string& prefix = "") {
    int64_t bytes = 0;
    for (const auto& item : models[strategy]->named_parameters())
      if (item.key().rfind(prefix, 0) == 0) bytes += static_cast<int64_t>(item.value().storage().nbytes());
    return bytes;
  };
  // fsdp keeps the blocks and tables as chunks only, the rest whole for the next forward pass.
  for (const char* fsdp : {"fsdp", "fsdp+recompute"}) {
    CHECK(memory(fsdp, "global_transformer.layers.") == 0);
    CHECK(memory(fsdp, "encoder_hash_tok_embedding.") == 0);
    CHECK(memory(fsdp, "lm_head.") > 0);
  }
  CHECK(memory("zero2") > 0);
  // Without clipping the same arithmetic on the same elements: bit for bit; with it
  // the norms are summed in another order.
  for (const double max_norm : {0.0, 0.5}) {
    for (auto& [strategy, update] : updates) {
      for (int micro = 0; micro < 2; ++micro) {  // gradient accumulation
        const auto loss = models[strategy]->forward(input).pow(2).mean();
        if (strategy.rfind("fsdp", 0) == 0) {  // blocks and tables freed after their forward, the other units not
          CHECK(memory(strategy, "global_transformer.layers.") == 0);
          CHECK(memory(strategy, "encoder_hash_tok_embedding.") == 0);
          CHECK(memory(strategy, "lm_head.") > 0);
        }
        loss.backward();
      }
      update->step(opt.lr, max_norm);
    }
    const auto ddp = models["ddp"]->named_parameters();
    for (const char* strategy : {"zero2", "fsdp", "fsdp+recompute"}) {
      updates[strategy]->with_whole_params([&] {
        const auto sharded = models[strategy]->named_parameters();
        double worst = 0;
        for (const auto& item : ddp)
          worst = std::max(worst, blt::test::max_abs_diff(item.value(), sharded[item.key()]));
        CAPTURE(strategy, max_norm);
        if (max_norm == 0)
          CHECK(worst == 0);
        else
          CHECK(worst < 1e-6);
      });
    }
    CHECK(memory("fsdp", "global_transformer.layers.") == 0);  // chunks again
    CHECK(memory("fsdp+recompute", "global_transformer.layers.") == 0);
  }
}

TEST_CASE("param update: every strategy steps a float64 model in float64, to the same parameters", "[dist][param-path]") {
  const auto config = blt::test::load_model_preset("tiny");
  blt::train::OptimizerConfig opt;
  opt.lr = 1e-2;
  blt::parallel::Comm comm;
  torch::Generator gen = at::detail::createCPUGenerator(6);
  const blt::model::ModelInput input{blt::test::random_tokens(2, 32, gen), torch::Tensor()};
  std::map<std::string, std::map<std::string, torch::Tensor>> whole;  // strategy -> parameters after the steps
  for (const std::string strategy : {"ddp", "zero2", "fsdp"}) {
    torch::manual_seed(1);
    auto model = blt::model::build_model(config);
    model->to(torch::kDouble);
    auto update = blt::parallel::make_param_update(blt::parallel::DistConfig{strategy}, *model, comm, opt);
    for (int step = 0; step < 2; ++step) {
      model->forward(input).pow(2).mean().backward();
      const auto norm = update->step(opt.lr, /*max_norm=*/0.5);
      CHECK(norm.scalar_type() == torch::kDouble);
      CHECK(norm.dim() == 0);
    }
    update->with_whole_params([&] {
      for (const auto& item : model->named_parameters()) {
        CHECK(item.value().scalar_type() == torch::kDouble);
        whole[strategy][item.key()] = item.value().detach().clone();
      }
    });
  }
  // The same float64 arithmetic; the clip factor's norm is summed per parameter (ddp) or per
  // unit (sharded), so the parameters agree to float64 rounding of that order: ~1e-16 relative,
  // a few steps of lr at most.
  for (const char* strategy : {"zero2", "fsdp"}) {
    double worst = 0;
    for (const auto& [name, value] : whole["ddp"])
      worst = std::max(worst, blt::test::max_abs_diff(value, whole[strategy].at(name)));
    CAPTURE(strategy);
    CHECK(worst < 1e-12);
  }
}

TEST_CASE("param update: zero2 in one process keeps no second copy of the parameters", "[dist][param-path]") {
  const auto config = blt::test::load_model_preset("tiny");
  blt::train::OptimizerConfig opt;
  blt::parallel::Comm comm;
  torch::manual_seed(1);
  auto model = blt::model::build_model(config);
  auto update = blt::parallel::make_param_update(blt::parallel::DistConfig{"zero2"}, *model, comm, opt);
  // Written into the parameters, a value survives a step at lr 0 without gradients only if the
  // parameters are the master weights (a separate master would be gathered back over it).
  const auto head = model->named_parameters()["lm_head.weight"];
  {
    torch::NoGradGuard no_grad;
    head.fill_(0.25);
  }
  update->step(/*lr=*/0.0, /*max_norm=*/0.0);
  CHECK(head.eq(0.25).all().item<bool>());
}

// Under sparse_hash_rows the sharded strategies take the hash table down ddp's row path
// (parallel/hash_rows.h): whole through the forward pass (fsdp would free a sharded table after its
// lookup), a row-sparse gradient, and an update of the rows looked up only: with weight decay, a
// dense update changes every row, the lazy one leaves the others as they were until they are read.
TEST_CASE("param update: zero2 and fsdp keep the hash table whole and update only the rows a step used",
          "[dist][param-path]") {
  const auto config = blt::test::load_model_preset("tiny");
  blt::train::OptimizerConfig opt;
  opt.sparse_hash_rows = true;
  opt.weight_decay = 0.1;
  blt::parallel::Comm comm;
  torch::Generator gen = at::detail::createCPUGenerator(7);
  const blt::model::ModelInput input{blt::test::random_tokens(1, 16, gen), torch::Tensor()};
  for (const std::string strategy : {"zero2", "fsdp"}) {
    CAPTURE(strategy);
    torch::manual_seed(1);
    auto model = blt::model::build_model(config);
    auto* blt_model = dynamic_cast<blt::model::BltModel*>(model.get());
    REQUIRE(blt_model != nullptr);
    blt_model->set_sparse_hash_gradients(true);
    auto update = blt::parallel::make_param_update(blt::parallel::DistConfig{strategy}, *model, comm, opt);
    const auto table = blt_model->encoder_hash_tok_embedding->weight;
    const auto before = table.detach().clone();
    model->forward(input).pow(2).mean().backward();
    CHECK(table.storage().nbytes() == static_cast<std::size_t>(table.numel() * table.element_size()));
    REQUIRE(table.grad().defined());
    CHECK(table.grad().is_sparse());
    update->step(opt.lr, /*max_norm=*/1.0);
    const auto changed_rows = (table.detach() != before).any(1).sum().item<int64_t>();
    // 16 bytes x 6 n-gram sizes look up at most 96 of the table's rows.
    CHECK(changed_rows > 0);
    CHECK(changed_rows <= 96);
    CHECK(changed_rows < table.size(0));
  }
}

// zero2 reduce-scatters a transformer block's gradients in the backward that completes a step, as
// soon as autograd is done with the block (parallel/sharded_hooks.h), and the other units' after it;
// earlier micro-batches accumulate as usual. In one process the "reduce-scatter" moves the
// gradients into the chunk, which shows where it happened: the parameters' .grad() is gone.
TEST_CASE("param update: zero2 reduce-scatters each block inside the last backward of a step, to ddp's result",
          "[dist][param-path]") {
  const auto config = blt::test::load_model_preset("tiny");
  blt::train::OptimizerConfig opt;
  opt.lr = 1e-2;
  blt::parallel::Comm comm;
  torch::Generator gen = at::detail::createCPUGenerator(8);
  const blt::model::ModelInput first{blt::test::random_tokens(2, 32, gen), torch::Tensor()};
  const blt::model::ModelInput second{blt::test::random_tokens(2, 32, gen), torch::Tensor()};
  std::map<std::string, std::map<std::string, torch::Tensor>> after;  // strategy -> parameters
  for (const std::string strategy : {"ddp", "zero2"}) {
    CAPTURE(strategy);
    torch::manual_seed(1);
    auto model = blt::model::build_model(config);
    model->to(torch::kDouble);
    auto update = blt::parallel::make_param_update(blt::parallel::DistConfig{strategy}, *model, comm, opt);
    const auto params = model->named_parameters();
    torch::Tensor block, other;  // a transformer block's weight, and the head's
    for (const auto& item : params)
      if (!block.defined() && item.key().find(".layers.") != std::string::npos) block = item.value();
    other = params["lm_head.weight"];
    REQUIRE(block.defined());
    for (int step = 0; step < 2; ++step) {
      model->forward(first).pow(2).mean().backward();
      CHECK(block.grad().defined());  // an earlier micro-batch: accumulated as usual
      update->before_last_backward();
      model->forward(second).pow(2).mean().backward();
      if (strategy == "zero2") {
        CHECK_FALSE(block.grad().defined());  // taken by its hook inside backward
        CHECK(other.grad().defined());        // not a block: after backward
      }
      update->sum_gradients();
      if (strategy == "zero2") CHECK_FALSE(other.grad().defined());
      update->step(opt.lr, /*max_norm=*/0.5);
    }
    update->with_whole_params([&] {
      for (const auto& item : model->named_parameters()) after[strategy][item.key()] = item.value().detach().clone();
    });
  }
  // float64 both; the clip norm summed per parameter (ddp) or per unit (zero2): ~1e-16 relative.
  double worst = 0;
  for (const auto& [name, value] : after["ddp"]) worst = std::max(worst, blt::test::max_abs_diff(value, after["zero2"].at(name)));
  CHECK(worst < 1e-12);
}
