// Generation: the cached, incremental BLT (and byte LM) against the full forward
// recomputed on every prefix; sampling; UTF-8 output; `blt generate` end to end
// and its errors.
#include <algorithm>
#include <cmath>
#include <set>

#include "blt/core/utf8.h"
#include "blt/model/blt_inference.h"
#include "blt/model/blt_model.h"
#include "blt/model/generator.h"
#include "blt/model/model_checkpoint.h"
#include "blt/model/patcher.h"
#include "blt/model/token_ids.h"
#include "blt/model/transformer_lm.h"
#include "model_test_util.h"

using namespace blt::model;
using Catch::Matchers::Contains;

namespace {

const char* kPrompt = "The old lighthouse keeper climbed the spiral stairs";
const char* kLongText = "The old lighthouse keeper climbed the spiral stairs every evening at dusk, carrying a small tin of oil.";

std::vector<int64_t> prompt_ids(const std::string& text) {
  std::vector<int64_t> ids{kBosId};
  for (unsigned char c : text) ids.push_back(static_cast<int64_t>(c) + kByteOffset);
  return ids;
}

torch::Tensor as_row(const std::vector<int64_t>& ids) { return torch::tensor(ids, torch::kLong).view({1, -1}); }

// Small windows (encoder 8, decoder 6) so that a few dozen bytes exceed them;
// two encoder layers pooling at every layer, GQA in the decoder, a global input
// projection (k * d_l = 64 != 48), hash n-grams: every cached piece is exercised.
ModelConfig tiny_blt_config(const std::string& mode) {
  ModelConfig c;
  c.type = "blt";
  c.local_encoder = {32, 2, 2, 0, 64, 1e-5, 10000.0, 8, 1024};
  c.global = {48, 2, 4, 2, 96, 1e-5, 10000.0, 0, 1024};
  c.local_decoder = {32, 2, 4, 2, 64, 1e-5, 10000.0, 6, 1024};
  c.cross_attn_k = 2;
  c.cross_attn_all_encoder_layers = true;
  c.cross_attn_all_decoder_layers = true;
  c.hash = {97, 1, {3, 4, 5}};
  c.patching.mode = mode;
  c.patching.static_size = 3;
  return c;
}

std::shared_ptr<TransformerLM> tiny_entropy_model(torch::ScalarType dtype) {
  torch::manual_seed(7);
  auto lm = std::dynamic_pointer_cast<TransformerLM>(build_model(blt::test::load_model_preset("entropy-tiny")));
  lm->to(dtype);
  lm->eval();
  return lm;
}

// A random tiny BLT for `mode`; entropy modes get the tiny entropy model and a
// threshold halfway between two neighbouring entropies of kLongText, so that
// both outcomes occur and no entropy of that text sits near the threshold.
std::shared_ptr<BltModel> tiny_blt(const std::string& mode, torch::ScalarType dtype) {
  auto config = tiny_blt_config(mode);
  std::shared_ptr<TransformerLM> entropy;
  if (mode == "entropy") {
    entropy = tiny_entropy_model(dtype);
    auto e = Patcher(config.patching, entropy).entropies(as_row(prompt_ids(kLongText)));
    auto sorted = std::get<0>(e.flatten().sort());
    const int64_t mid = sorted.numel() / 2;
    config.patching.threshold = 0.5 * (sorted[mid].item<double>() + sorted[mid + 1].item<double>());
  }
  torch::manual_seed(11);
  auto model = std::static_pointer_cast<BltModel>(build_model(config));
  model->to(dtype);
  model->eval();
  if (entropy) model->set_patcher(std::make_shared<Patcher>(config.patching, entropy));
  return model;
}

// Greedy over the byte ids only: a random model may rank EOS first at any step,
// and the comparison should run for all `steps` bytes.
int64_t greedy_byte(const torch::Tensor& logits) {
  return logits.narrow(0, kByteOffset, logits.size(0) - kByteOffset).argmax().item<int64_t>() + kByteOffset;
}

// Greedy continuation by the full forward over the whole sequence at every step.
std::vector<int64_t> recomputed_greedy(CausalLM& model, std::vector<int64_t> ids, int64_t steps) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> out;
  for (int64_t i = 0; i < steps; ++i) {
    out.push_back(greedy_byte(model.forward({as_row(ids), {}})[0][-1]));
    ids.push_back(out.back());
  }
  return out;
}

// The same from the incremental model's caches.
std::vector<int64_t> cached_greedy(IncrementalLM& lm, const std::vector<int64_t>& prompt, int64_t steps) {
  torch::Tensor logits;
  for (int64_t id : prompt) logits = lm.push(id);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < steps; ++i) {
    out.push_back(greedy_byte(logits));
    if (i + 1 < steps) logits = lm.push(out.back());
  }
  return out;
}

// Worst-case forward error of evaluating the same sums in another order (the
// cached path multiplies one row where the full forward multiplies many, which
// changes GEMM blocking, and uses explicit masks where it uses SDPA): a sum of n
// terms is off by at most n * u * sum|terms| (Higham, gamma_n). Along the
// network, `depth` such reductions follow each other (4 per transformer layer:
// attention scores, attention values, o_proj/ffn input, ffn output, plus the
// cross-attentions and the head), each over at most `width` terms, and the
// normed activations keep sum|terms| at the scale of the values themselves. So
// rows may differ by depth * width * u * (1 + max|logit|).
double reorder_tolerance(const ModelConfig& c, torch::ScalarType dtype) {
  const double u = dtype == torch::kDouble ? std::ldexp(1.0, -53) : std::ldexp(1.0, -24);
  const int64_t layers = c.local_encoder.layers + c.global.layers + c.local_decoder.layers;
  const double depth = 4.0 * static_cast<double>(layers) + 3.0 * static_cast<double>(c.local_decoder.layers) + 2.0;
  const double width = static_cast<double>(std::max({c.local_encoder.ffn_dim, c.global.ffn_dim, c.local_decoder.ffn_dim,
                                                     c.cross_attn_k * c.local_encoder.dim, c.global.dim}));
  return depth * width * u;
}

}  // namespace

TEST_CASE("generate: cached greedy BLT output equals recomputing the whole prefix, every patcher", "[generate]") {
  // float64: the two paths round differently (see reorder_tolerance), and in
  // float64 those differences (~1e-13) cannot flip an argmax or a threshold
  // comparison unless two values lie that close, which the checks below exclude.
  const int64_t steps = 48;
  for (const std::string mode : {"static", "space", "entropy"}) {
    INFO("patching " << mode);
    auto model = tiny_blt(mode, torch::kDouble);
    const auto prompt = prompt_ids(kPrompt);
    BltIncremental lm(model, model->patcher() ? model->patcher()->entropy_model() : nullptr);
    const auto cached = cached_greedy(lm, prompt, steps);
    CHECK(cached == recomputed_greedy(*model, prompt, steps));
    // Long enough to matter: many patches completed, both windows exceeded.
    CHECK(lm.patches() >= 8);
    CHECK(static_cast<int64_t>(prompt.size()) + steps > 4 * model->config().local_encoder.sliding_window);
    // The incremental patcher cut the fed bytes exactly as the batch patcher does.
    std::vector<int64_t> fed = prompt;
    fed.insert(fed.end(), cached.begin(), cached.end() - 1);
    auto tokens = as_row(fed);
    auto batch_lengths = model->patcher() ? model->patcher()->patch(tokens) : Patcher(model->config().patching, nullptr).patch(tokens);
    CHECK(blt::test::max_abs_diff(lm.patch_lengths(), batch_lengths) == 0);
    if (mode == "entropy") {
      auto margin = (model->patcher()->entropies(tokens) - model->config().patching.threshold).abs().min().item<double>();
      CHECK(margin > 1e-9);
    }
  }
}

TEST_CASE("generate: cached BLT logits equal the full forward's within the reordering bound", "[generate]") {
  const auto ids = prompt_ids(kLongText);
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    for (const std::string mode : {"static", "space", "entropy"}) {
      auto model = tiny_blt(mode, dtype);
      BltIncremental lm(model, model->patcher() ? model->patcher()->entropy_model() : nullptr);
      std::vector<torch::Tensor> rows;
      for (int64_t id : ids) rows.push_back(lm.push(id));
      torch::NoGradGuard no_grad;
      auto full = model->forward({as_row(ids), {}})[0];
      auto cached = torch::stack(rows);
      const double tolerance = reorder_tolerance(model->config(), dtype) * (1.0 + full.abs().max().item<double>());
      INFO("patching " << mode << ", " << dtype << ", tolerance " << tolerance);
      CHECK(blt::test::max_abs_diff(cached, full) <= tolerance);
      CHECK(lm.patches() >= 8);
    }
  }
}

TEST_CASE("generate: byte LM cached greedy output equals recomputing the prefix", "[generate]") {
  auto lm = tiny_entropy_model(torch::kDouble);
  auto incremental = incremental_lm(lm);
  const auto prompt = prompt_ids(kPrompt);
  CHECK(cached_greedy(*incremental, prompt, 80) == recomputed_greedy(*lm, prompt, 80));  // past the 64-byte window
  // generate() stops at the first special id, or at max_bytes.
  GenerationConfig config;
  config.max_bytes = 30;
  auto fresh = incremental_lm(lm);
  const auto result = generate(*fresh, prompt, config);
  CHECK(result.ids.size() <= 30u);
  CHECK((result.stop == "max-bytes") == (result.ids.size() == 30u));
}

TEST_CASE("generate: sampling is seeded, reproducible and respects top-k and top-p", "[generate]") {
  auto logits = torch::tensor({0.5, 3.0, 2.9, -1.0, 1.0, 2.0}, torch::kDouble);
  CHECK(Sampler({0.0, 0, 1.0, 0}).next(logits) == 1);  // greedy
  auto draws = [&](SamplingConfig config, int n) {
    Sampler s(config);
    std::vector<int64_t> out;
    for (int i = 0; i < n; ++i) out.push_back(s.next(logits));
    return out;
  };
  CHECK(draws({1.0, 0, 1.0, 5}, 200) == draws({1.0, 0, 1.0, 5}, 200));
  CHECK(draws({1.0, 0, 1.0, 5}, 200) != draws({1.0, 0, 1.0, 6}, 200));
  for (auto id : draws({5.0, 1, 1.0, 1}, 50)) CHECK(id == 1);      // top-k 1 is greedy at any temperature
  for (auto id : draws({5.0, 0, 1e-9, 1}, 50)) CHECK(id == 1);     // so is a tiny nucleus
  std::set<int64_t> top3;
  for (auto id : draws({10.0, 3, 1.0, 2}, 400)) top3.insert(id);
  CHECK(top3 == std::set<int64_t>{1, 2, 5});
  // At temperature 1, p(1) + p(2) = 0.76 and p(5) = 0.15: top-p 0.85 keeps exactly those three.
  std::set<int64_t> nucleus;
  for (auto id : draws({1.0, 0, 0.85, 3}, 400)) nucleus.insert(id);
  CHECK(nucleus == std::set<int64_t>{1, 2, 5});
  CHECK_THROWS_WITH(Sampler({-1.0, 0, 1.0, 0}), Contains("--temperature"));
  CHECK_THROWS_WITH(Sampler({1.0, -2, 1.0, 0}), Contains("--top-k"));
  CHECK_THROWS_WITH(Sampler({1.0, 0, 0.0, 0}), Contains("--top-p"));
  CHECK_THROWS_WITH(Sampler({1.0, 0, 1.5, 0}), Contains("--top-p"));
}

TEST_CASE("generate: UTF-8 checks and U+FFFD for maximal invalid subparts", "[generate]") {
  CHECK(blt::utf8_error_offset("plain ascii") == std::string::npos);
  CHECK(blt::utf8_error_offset("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == std::string::npos);
  CHECK(blt::utf8_error_offset("ab\xFF") == 2u);
  CHECK(blt::utf8_error_offset("ab\xC3") == 2u);         // truncated at the end
  CHECK(blt::utf8_error_offset("\xC0\xAF") == 0u);       // overlong
  CHECK(blt::utf8_error_offset("x\xED\xA0\x80") == 1u);  // surrogate
  const std::string fffd = "\xEF\xBF\xBD";
  auto sanitize = [](const std::string& bytes) {
    blt::Utf8Sanitizer s;
    std::string out;
    for (unsigned char c : bytes) out += s.push(c);
    return out + s.finish();
  };
  // The expected strings are Python's bytes.decode("utf-8", errors="replace").
  CHECK(sanitize("caf\xC3\xA9 \xF0\x9F\x98\x80") == "caf\xC3\xA9 \xF0\x9F\x98\x80");
  CHECK(sanitize("\xE2\x82" "A") == fffd + "A");
  CHECK(sanitize("\xF0\x80") == fffd + fffd);
  CHECK(sanitize("\xED\xA0\x80") == fffd + fffd + fffd);
  CHECK(sanitize("a\xFF" "b\xC3") == "a" + fffd + "b" + fffd);
  blt::Utf8Sanitizer s;
  CHECK(s.push(0xE2).empty());  // held back until the sequence completes
  CHECK(s.push(0x82).empty());
  CHECK(s.push(0xAC) == "\xE2\x82\xAC");
  CHECK(s.replacements() == 0);
}

TEST_CASE("blt generate: prints the cached greedy continuation and reports its speed", "[generate][cli]") {
  blt::test::TempDir dir;
  // An entropy-patched BLT whose checkpoint names its entropy model by a relative path.
  auto model = tiny_blt("entropy", torch::kFloat);
  save_model_checkpoint(dir / "entropy_lm", *model->patcher()->entropy_model());
  auto config = model->config();
  config.patching.entropy_model = "../entropy_lm";
  write_model_checkpoint(dir / "blt", config, [&] {
    std::vector<blt::safetensors::PendingTensor> tensors;
    for (const auto& item : model->named_parameters()) {
      auto t = item.value();
      tensors.push_back({item.key(), t.scalar_type(), t.sizes().vec(), [t] { return t; }});
    }
    return tensors;
  }());
  auto lm = incremental_lm(load_model_checkpoint(dir / "blt"));
  GenerationConfig gen;
  gen.max_bytes = 40;
  const auto expected = generate(*lm, prompt_ids(kPrompt), gen);
  blt::Utf8Sanitizer sanitizer;
  std::string text;
  for (auto id : expected.ids) text += sanitizer.push(static_cast<uint8_t>(id - kByteOffset));
  text += sanitizer.finish();

  auto r = blt::test::run_shell("(" + std::string(BLT_BINARY) + " generate " + dir / "blt" + " --prompt '" + kPrompt +
                                "' --max-bytes 40 --device cpu > " + dir / "out.txt" + ")");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(blt::test::read_file(dir / "out.txt") == text);
  CHECK_THAT(r.output, Contains("bytes/s") && Contains("patches completed"));
  // Sampling with a seed is reproducible through the command too.
  const std::string sample = " generate " + dir / "blt" + " --prompt 'Hi' --max-bytes 30 --temperature 1 --top-k 40 --seed 3";
  auto a = blt::test::run_shell("(" + std::string(BLT_BINARY) + sample + " > " + dir / "a.txt" + ")");
  auto b = blt::test::run_shell("(" + std::string(BLT_BINARY) + sample + " > " + dir / "b.txt" + ")");
  CHECK(a.exit_code == 0);
  CHECK(b.exit_code == 0);
  CHECK(blt::test::read_file(dir / "a.txt") == blt::test::read_file(dir / "b.txt"));
}

TEST_CASE("blt generate: bad input gets one clear error and a non-zero exit", "[generate][cli]") {
  blt::test::TempDir dir;
  auto model = tiny_blt("static", torch::kFloat);
  save_model_checkpoint(dir / "blt", *model);
  auto entropy_config = model->config();
  entropy_config.patching.mode = "entropy";
  entropy_config.patching.entropy_model = "../missing";
  save_model_checkpoint(dir / "needs_entropy", *std::static_pointer_cast<BltModel>(build_model(entropy_config)));
  ModelConfig token;
  token.type = "token_lm";
  token.vocab_size = 300;
  token.transformer = {32, 1, 2, 0, 64, 1e-5, 10000.0, 0, 64};
  save_model_checkpoint(dir / "token", *build_model(token));
  blt::test::write_file(dir / "foreign/notes.txt", "not a checkpoint");
  blt::test::write_file(dir / "empty.txt", "");
  blt::test::write_file(dir / "latin1.txt", "caf\xE9");
  const std::string ckpt = dir / "blt";
  const std::vector<std::pair<std::string, std::string>> cases{
      {"generate " + dir / "nowhere" + " --prompt hi", "nowhere"},
      {"generate " + dir / "foreign" + " --prompt hi", "not a model checkpoint"},
      {"generate " + dir / "token" + " --prompt hi", "not token_lm"},
      {"generate " + dir / "needs_entropy" + " --prompt hi", "missing"},
      {"generate " + ckpt + " --prompt-file " + dir / "empty.txt", "prompt file is empty"},
      {"generate " + ckpt + " --prompt-file " + dir / "absent.txt", "cannot read the prompt file"},
      {"generate " + ckpt + " --prompt-file " + dir / "latin1.txt", "invalid byte 0xe9 at offset 3"},
      {"generate " + ckpt + " --prompt ''", "--prompt is empty"},
      {"generate " + ckpt, "exactly one of --prompt"},
      {"generate " + ckpt + " --prompt hi --prompt-file " + dir / "latin1.txt", "exactly one of --prompt"},
      {"generate " + ckpt + " --prompt hi --temperature -1", "--temperature"},
      {"generate " + ckpt + " --prompt hi --top-p 0", "--top-p"},
      {"generate " + ckpt + " --prompt hi --top-k -3", "--top-k"},
      {"generate " + ckpt + " --prompt hi --max-bytes 0", "--max-bytes"},
      {"generate " + ckpt + " --prompt hi --seed -1", "--seed"},
      {"generate " + ckpt + " --prompt hi --device tpu", "--device"},
      {"generate " + ckpt + " --prompt hi --dtype fp8", "--dtype"},
      {"generate " + ckpt + " --prompt hi --max-bytes many", "--max-bytes"},
  };
  for (const auto& [args, message] : cases) {
    auto r = blt::test::run_blt(args);
    INFO(args << "\n" << r.output);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.output, Contains(message));
    CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
  }
  // A non-UTF-8 prompt on the command line is refused the same way.
  auto r = blt::test::run_blt("generate " + ckpt + " --prompt \"$(printf 'caf\\351')\"");
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.output, Contains("--prompt: not UTF-8 text"));
}
