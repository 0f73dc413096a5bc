// Patchers: hand-written static/space examples, length properties for every
// mode, batch == incremental on English text, threshold search, hash n-grams.
#include "blt/core/torch_compat.h"
#include "blt/data/byte_ids.h"
#include "blt/model/hash_ngram.h"
#include "blt/model/patcher.h"
#include "blt/model/token_ids.h"
#include "blt/train/evaluate.h"
#include "model_test_util.h"

using namespace blt::model;

namespace {

const char* kParagraph =
    "The old lighthouse keeper climbed the spiral stairs every evening at dusk, carrying a small tin of oil "
    "and a cloth. From the top he could see the fishing boats returning to the harbour, their lamps bobbing "
    "like fireflies on the dark water. He had kept the light burning for thirty-one years, through storms "
    "that shook the glass and calm nights when the sea lay flat as a mirror.";

torch::Tensor encode(const std::string& text) {
  std::vector<int64_t> ids{kBosId};
  for (unsigned char c : text) ids.push_back(static_cast<int64_t>(c) + kByteOffset);
  return torch::tensor(ids, torch::kLong).view({1, -1});
}

std::vector<int64_t> row(const torch::Tensor& t) {
  auto c = t.cpu().contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

std::shared_ptr<TransformerLM> tiny_entropy_model(torch::ScalarType dtype = torch::kDouble) {
  torch::manual_seed(7);
  auto lm = std::dynamic_pointer_cast<TransformerLM>(build_model(blt::test::load_model_preset("entropy-tiny")));
  lm->to(dtype);
  lm->eval();
  return lm;
}

void check_lengths(const torch::Tensor& lengths, int64_t L, int64_t max_len) {
  for (int64_t b = 0; b < lengths.size(0); ++b) {
    auto r = row(lengths[b]);
    REQUIRE(!r.empty());
    CHECK(r[0] == 1);
    int64_t sum = 0;
    bool zero = false;
    for (auto v : r) {
      CHECK(v >= 0);
      if (zero) CHECK(v == 0);
      if (v == 0) zero = true;
      if (max_len > 0) CHECK(v <= max_len);
      sum += v;
    }
    CHECK(sum == L);
  }
}

}  // namespace

TEST_CASE("static patching: one-byte first patch then fixed size", "[model][patching]") {
  auto lengths = patch_lengths_from_starts(static_patch_starts(2, 10, 4, torch::kCPU), 0);
  CHECK(row(lengths[0]) == std::vector<int64_t>{1, 4, 4, 1});
  // 9 = 1 + 4 + 4: the next byte would start a patch, so the end marker follows.
  CHECK(row(patch_lengths_from_starts(static_patch_starts(1, 9, 4, torch::kCPU), 0)) == std::vector<int64_t>{1, 4, 4, 0});
  CHECK(row(patch_lengths_from_starts(static_patch_starts(1, 10, 4, torch::kCPU), 3)) ==
        std::vector<int64_t>{1, 3, 1, 3, 1, 1});
}

TEST_CASE("space patching: a new patch after each word, separators stay together", "[model][patching]") {
  // ids: BOS "ab cd, e" -> patches [BOS] [a b ' '] [c d ,] [' ' e]
  auto lengths = patch_lengths_from_starts(space_patch_starts(encode("ab cd, e")), 0);
  CHECK(row(lengths) == std::vector<int64_t>{1, 3, 3, 2});
  // UTF-8: continuation bytes stay with their word; a lead byte counts as a separator (as in SpaceByte/reference).
  auto utf = patch_lengths_from_starts(space_patch_starts(encode("caf\xc3\xa9 x")), 0);
  CHECK(row(utf) == std::vector<int64_t>{1, 4, 2, 1});
  // A trailing separator ends the last patch: the end marker follows.
  CHECK(row(patch_lengths_from_starts(space_patch_starts(encode("ab ")), 0)) == std::vector<int64_t>{1, 3, 0});
}

TEST_CASE("entropy patching: thresholds on hand-made entropies", "[model][patching]") {
  auto e = torch::tensor({9.0, 0.1, 2.0, 0.5, 0.4, 3.0, 0.2}, torch::kDouble).view({1, 7});
  // Starts at 0, 1, and t where e[t-1] > 1: t = 3 (e2 = 2.0), t = 6 (e5 = 3.0).
  CHECK(row(patch_lengths_from_starts(entropy_patch_starts(e, 1.0), 0)) == std::vector<int64_t>{1, 2, 3, 1});
  // Monotonic: rises e[t-1] - e[t-2] > 1: t = 3 (2.0 - 0.1), t = 6 (3.0 - 0.4).
  CHECK(row(patch_lengths_from_starts(monotonic_patch_starts(e, 1.0), 0)) == std::vector<int64_t>{1, 2, 3, 1});
  // Only t = 6 rises by more than 2.5 (3.0 - 0.4 = 2.6).
  CHECK(row(patch_lengths_from_starts(monotonic_patch_starts(e, 2.5), 0)) == std::vector<int64_t>{1, 5, 1});
  // The last entropy above the threshold marks the end of the last patch.
  auto e2 = torch::tensor({0.0, 0.0, 0.0, 5.0}, torch::kDouble).view({1, 4});
  CHECK(row(patch_lengths_from_starts(entropy_patch_starts(e2, 1.0), 0)) == std::vector<int64_t>{1, 3, 0});
}

TEST_CASE("patchers: lengths positive, sum to L, respect max length, first patch one byte", "[model][patching]") {
  auto gen = at::detail::createCPUGenerator(11);
  auto lm = tiny_entropy_model(torch::kFloat);
  for (const std::string mode : {"static", "space", "entropy", "entropy_monotonic"}) {
    for (int64_t max_len : {0, 3, 7}) {
      PatchingConfig cfg;
      cfg.mode = mode;
      cfg.static_size = 5;
      cfg.max_patch_length = max_len;
      Patcher patcher(cfg, lm);
      auto tokens = blt::test::random_tokens(3, 57, gen);
      if (mode == "entropy" || mode == "entropy_monotonic") {
        auto e = patcher.entropies(tokens);
        cfg.threshold = e.median().item<double>();
        cfg.monotonic_threshold = 0.0;
        patcher = Patcher(cfg, lm);
      }
      auto lengths = patcher.patch(tokens);
      INFO("mode " << mode << " max " << max_len);
      check_lengths(lengths, 57, max_len);
      CHECK(lengths.size(1) > 2);
    }
  }
}

TEST_CASE("entropy patching: batch and incremental (KV cache) agree on English text", "[model][patching]") {
  auto lm = tiny_entropy_model();
  auto tokens = encode(std::string(kParagraph) + "\n" + kParagraph);  // longer than the 64-byte window
  tokens.index_put_({0, 200}, kEosId);                                  // and a document boundary
  const int64_t L = tokens.size(1);
  Patcher probe({}, lm);
  auto entropies = probe.entropies(tokens);
  // Incremental logits equal the batch logits.
  LMCache cache;
  std::vector<torch::Tensor> steps;
  {
    torch::NoGradGuard no_grad;
    for (int64_t t = 0; t < L; ++t) steps.push_back(next_byte_entropy(lm->step(tokens.select(1, t), cache)));
  }
  CHECK(blt::test::max_abs_diff(torch::stack(steps, 1), entropies) < 1e-9);
  for (const std::string mode : {"entropy", "entropy_monotonic"}) {
    for (int64_t max_len : {0, 6}) {
      PatchingConfig cfg;
      cfg.mode = mode;
      cfg.max_patch_length = max_len;
      // Halfway between two neighbouring entropies: no value sits on the threshold,
      // where float rounding of the two computations could decide either way.
      auto sorted = std::get<0>(entropies.flatten().sort());
      const int64_t mid = sorted.numel() / 2;
      cfg.threshold = 0.5 * (sorted[mid].item<double>() + sorted[mid + 1].item<double>());
      cfg.monotonic_threshold = 0.01;
      auto batch = Patcher(cfg, lm).patch(tokens);
      IncrementalPatcher inc(cfg, lm);
      int64_t starts = 0;
      for (int64_t t = 0; t < L; ++t) starts += inc.push(tokens[0][t].item<int64_t>()) ? 1 : 0;
      INFO("mode " << mode << " max " << max_len);
      CHECK(row(inc.patch_lengths()) == row(batch));
      CHECK(starts == batch.gt(0).sum().item<int64_t>());
      CHECK(batch.size(1) > 10);
    }
  }
  for (const std::string mode : {"static", "space"}) {
    PatchingConfig cfg;
    cfg.mode = mode;
    cfg.max_patch_length = 5;
    IncrementalPatcher inc(cfg, nullptr);
    for (int64_t t = 0; t < L; ++t) inc.push(tokens[0][t].item<int64_t>());
    CHECK(row(inc.patch_lengths()) == row(Patcher(cfg, nullptr).patch(tokens)));
  }
}

// An evaluation's last sequences are padded (data/loader.cpp); under entropy patching
// every padded byte used to start a patch, so a padded row of an 8192-byte sequence
// needed 8193 global positions and the evaluation failed on a 4096-position model.
TEST_CASE("patching: a padded tail adds at most one patch and real bytes keep theirs", "[model][patching]") {
  auto lm = tiny_entropy_model();
  PatchingConfig cfg;
  cfg.mode = "entropy";
  cfg.threshold = 0.0;  // a softmax's entropy is > 0: every byte starts a patch, the worst case for padding
  const Patcher patcher(cfg, lm);
  const int64_t L = 64, real = 40;
  auto text = encode(std::string(kParagraph)).narrow(1, 0, L + 1);  // [1, L + 1]: inputs and targets
  auto padded = text.clone();
  padded.narrow(1, real, L + 1 - real).fill_(blt::data::kIgnoreId);
  auto all_padding = torch::full({1, L + 1}, blt::data::kIgnoreId, torch::kLong);
  const auto batch = blt::train::prepare_batch(torch::cat({padded, all_padding}), &patcher, torch::kCPU);
  const auto unpadded = row(patcher.patch(text.narrow(1, 0, L))[0]);
  const auto with_tail = row(batch.input.patch_lengths[0]);
  REQUIRE(unpadded.size() >= static_cast<std::size_t>(real));
  REQUIRE(with_tail.size() >= static_cast<std::size_t>(real) + 1);
  // Bytes 0..real-1 are real: the patches up to the first padded position are the unpadded ones,
  CHECK(std::vector<int64_t>(with_tail.begin(), with_tail.begin() + real) ==
        std::vector<int64_t>(unpadded.begin(), unpadded.begin() + real));
  // and the padded tail is one patch.
  CHECK(with_tail[real] == L - real);
  for (std::size_t i = real + 1; i < with_tail.size(); ++i) CHECK(with_tail[i] == 0);
  // A row of padding alone: the two patches every row starts with (BOS alone, then the rest).
  const auto padding_row = row(batch.input.patch_lengths[1]);
  CHECK(padding_row[0] == 1);
  CHECK(padding_row[1] == L - 1);
  CHECK(batch.real_patches() == static_cast<double>(real + 1 + 2));
}

TEST_CASE("entropy precision: the CPU computes fp32 whatever the config says; documents change nothing there",
          "[model][patching]") {
  auto lm = tiny_entropy_model(torch::kFloat);
  auto gen = at::detail::createCPUGenerator(21);
  const auto tokens = blt::test::random_tokens(2, 300, gen, 0.02);
  PatchingConfig bf16;
  bf16.entropy_precision = "bf16";
  const auto fp32_entropies = Patcher({}, lm).entropies(tokens);
  CHECK(torch::equal(Patcher(bf16, lm).entropies(tokens), fp32_entropies));
  CHECK(running_entropy_model(bf16, lm) == lm);  // no bf16 copy on the CPU
  // The spans reach the entropy model's attention, which on the CPU keeps the blockwise path.
  CHECK(torch::equal(Patcher({}, lm).entropies(tokens, document_spans(tokens, kEosId, torch::kCPU)), fp32_entropies));
  REQUIRE_THROWS_WITH(blt::test::load_model_preset("small", {"model.patching.entropy_precision=fp16"}),
                      Catch::Matchers::Contains("'model.patching.entropy_precision'") &&
                          Catch::Matchers::Contains("must be one of: fp32, bf16"));
}

TEST_CASE("entropy precision on CUDA: bf16 as accurate with flash over documents as without; fp32 stays fp32 "
          "inside a caller's autocast (needs CUDA)",
          "[model][patching][cuda]") {
  if (!torch::cuda::is_available()) {
    WARN("no CUDA device: the entropy model's precision on the GPU is checked on the GPU machine");
    return;
  }
  const torch::Device cuda(torch::kCUDA);
  auto exact = tiny_entropy_model(torch::kDouble);
  auto lm = tiny_entropy_model(torch::kFloat);
  lm->to(cuda);
  auto gen = at::detail::createCPUGenerator(22);
  const auto tokens = blt::test::random_tokens(2, 600, gen, 0.01);  // several documents, longer than the window
  const auto reference = Patcher({}, exact).entropies(tokens);
  const auto error = [&](const torch::Tensor& e) {
    return ((e.to(torch::kCPU, torch::kDouble) - reference).norm() / reference.norm()).item<double>();
  };
  const auto on_gpu = tokens.to(cuda);
  const auto documents = document_spans(tokens, kEosId, cuda);

  const auto fp32 = Patcher({}, lm).entropies(on_gpu);
  {
    const blt::compat::CudaAutocast caller(true, at::kBFloat16);  // e.g. a model's forward that patches itself
    CHECK(torch::equal(Patcher({}, lm).entropies(on_gpu), fp32));
  }
  PatchingConfig bf16;
  bf16.entropy_precision = "bf16";
  const auto flash = Patcher(bf16, lm).entropies(on_gpu, documents), blocked = Patcher(bf16, lm).entropies(on_gpu);
  const double u = std::ldexp(1.0, -8), fp32_error = error(fp32);  // bf16's unit roundoff
  INFO("relative errors against float64: fp32 " << fp32_error << ", bf16 blockwise " << error(blocked)
                                                << ", bf16 flash over documents " << error(flash));
  // bf16 is in effect: its rounding (2^-8) dwarfs float32's (2^-24).
  CHECK(error(blocked) > 16 * fp32_error);
  // Both bf16 paths round the same products and sums at a few points; flash over the wrong spans (a key
  // across a document or past the window) would be off by order 1.
  CHECK(error(flash) <= 2 * error(blocked) + 8 * u);
  // bf16 runs a copy held wholly in bf16 (the residual stream too); the model given stays float32.
  const auto running = running_entropy_model(bf16, lm);
  REQUIRE(running != lm);
  for (const auto& p : running->parameters()) CHECK(p.scalar_type() == torch::kBFloat16);
  CHECK(torch::equal(running->lm_head->weight, lm->lm_head->weight.to(torch::kBFloat16)));
  CHECK(lm->lm_head->weight.scalar_type() == torch::kFloat);
  CHECK(running_entropy_model({}, lm) == lm);
}

TEST_CASE("threshold search hits a target mean patch size", "[model][patching]") {
  auto lm = tiny_entropy_model(torch::kFloat);
  auto tokens = encode(kParagraph);
  auto entropies = Patcher({}, lm).entropies(tokens);
  for (double target : {2.0, 4.5}) {
    const auto found = threshold_for_mean_patch_size({entropies[0]}, target, "entropy", 0);
    auto lengths = patch_lengths_from_starts(entropy_patch_starts(entropies, found.threshold), 0);
    CHECK(mean_patch_length(lengths) == Approx(target).margin(0.35));
    CHECK(found.mean_patch == Approx(mean_patch_length(lengths)).epsilon(1e-12));
  }
}

TEST_CASE("hash n-grams: polynomial hash with int64 wrap-around and non-negative modulo", "[model][hash]") {
  auto hand = [](std::vector<int64_t> window, int64_t prime, int64_t vocab) {
    uint64_t h = 0, p = 1;
    for (int64_t id : window) {
      h += static_cast<uint64_t>(id) * p;
      p *= static_cast<uint64_t>(prime);
    }
    const int64_t s = static_cast<int64_t>(h);
    return ((s % vocab) + vocab) % vocab;
  };
  auto tokens = torch::tensor({200, 7, 259, 33, 100, 5}, torch::kLong).view({1, 6});
  const int64_t prime = 1000000007, vocab = 500002;
  auto h3 = ngram_hash(tokens, 3, prime, vocab);
  CHECK(h3[0][0].item<int64_t>() == hand({0, 0, 200}, prime, vocab));
  CHECK(h3[0][1].item<int64_t>() == hand({0, 200, 7}, prime, vocab));
  CHECK(h3[0][5].item<int64_t>() == hand({33, 100, 5}, prime, vocab));
  // 8-grams overflow int64: the wrapped value may be negative before the modulo.
  auto h8 = ngram_hash(tokens, 8, 9576890767LL, vocab);
  CHECK(h8[0][5].item<int64_t>() == hand({0, 0, 200, 7, 259, 33, 100, 5}, 9576890767LL, vocab));
  HashEmbeddingConfig cfg;
  cfg.vocab = 1000;
  cfg.functions = 2;
  auto rows = hash_embedding_rows(tokens, cfg);
  REQUIRE(rows.size(2) == 12);
  // Table 7 = second hash function (prime 5915587277), n = 4.
  CHECK(rows[0][4][7].item<int64_t>() == 7 * 1000 + hand({7, 259, 33, 100}, 5915587277LL, 1000));
  CHECK(rows.min().item<int64_t>() >= 0);
  CHECK(rows.max().item<int64_t>() < 12 * 1000);
}

TEST_CASE("entropies of sequences longer than the entropy model's max_seq_len come from overlapping chunks",
          "[model][patching]") {
  torch::manual_seed(8);
  auto long_config = blt::test::load_model_preset("entropy-tiny", {"model.transformer.max_seq_len=1000"});
  auto short_config = blt::test::load_model_preset("entropy-tiny", {"model.transformer.max_seq_len=150"});
  auto full = std::dynamic_pointer_cast<TransformerLM>(build_model(long_config));
  auto chunked = std::dynamic_pointer_cast<TransformerLM>(build_model(short_config));
  {
    torch::NoGradGuard no_grad;
    auto source = full->named_parameters();
    for (auto& item : chunked->named_parameters()) item.value().copy_(source[item.key()]);
  }
  full->to(torch::kDouble);
  chunked->to(torch::kDouble);
  auto gen = at::detail::createCPUGenerator(12);
  auto tokens = blt::test::random_tokens(2, 700, gen);
  auto a = Patcher({}, full).entropies(tokens), b = Patcher({}, chunked).entropies(tokens);
  REQUIRE(a.sizes() == b.sizes());
  CHECK(blt::test::max_abs_diff(a, b) < 1e-9);
  auto no_window = blt::test::load_model_preset("entropy-tiny", {"model.transformer.max_seq_len=150",
                                                                 "model.transformer.sliding_window=0"});
  REQUIRE_THROWS_WITH(Patcher({}, std::dynamic_pointer_cast<TransformerLM>(build_model(no_window))).entropies(tokens),
                      Catch::Matchers::Contains("max_seq_len"));
}

TEST_CASE("queued patching: the lengths patch() gives; the patch count is the one computed when it was queued",
          "[model][patching]") {
  const auto tokens = encode(kParagraph).repeat({2, 1});
  PatchingConfig cfg;
  cfg.mode = "space";
  cfg.max_patch_length = 5;
  const Patcher patcher(cfg, nullptr);
  CHECK(torch::equal(patcher.queue_patch(tokens).lengths(), patcher.patch(tokens)));
  // The count reaches the host through HostScalar: the value when queued, not after later work.
  std::vector<torch::Device> devices{torch::kCPU};
  if (torch::cuda::is_available()) devices.emplace_back(torch::kCUDA);
  for (const auto& device : devices) {
    auto count = torch::full({}, 7, torch::TensorOptions().dtype(torch::kLong).device(device));
    const blt::HostScalar on_host(count);
    count.add_(1);
    CHECK(on_host.to_int() == 7);
    CHECK(count.item<int64_t>() == 8);
  }
  REQUIRE_THROWS_WITH(blt::HostScalar(torch::zeros({2})), Catch::Matchers::Contains("not a scalar"));
}
