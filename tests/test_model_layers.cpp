// Layers: the fast attention paths equal dense-mask computations, RoPE is a
// relative rotation, gradients match finite differences.
#include "blt/core/torch_compat.h"
#include "blt/model/attention_masks.h"
#include "blt/model/cross_attention.h"
#include "blt/model/init.h"
#include "blt/model/local_encoder.h"
#include "blt/model/patch_ids.h"
#include "blt/model/rope.h"
#include "blt/model/span_attention.h"
#include "blt/model/transformer_layer.h"
#include "model_test_util.h"

using Catch::Matchers::Contains;
using namespace blt::model;
using blt::test::max_abs_diff;

namespace {

torch::Generator seeded(uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return gen;
}

void init_double(torch::nn::Module& m) {
  init_weights(m);
  m.to(torch::kDouble);
  // Norm scales away from 1 so that a missing norm would show.
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters())
    if (p.dim() == 1) p.uniform_(0.5, 1.5);
}

}  // namespace

TEST_CASE("local attention: blockwise windows equal the dense mask in float64", "[model][attention]") {
  auto gen = seeded(1);
  const int64_t B = 2, H = 3, D = 8;
  for (int64_t L : {5, 37, 64, 70}) {
    for (int64_t window : {0, 1, 5, 16, 100}) {
      for (bool docs : {false, true}) {
        auto q = torch::randn({B, H, L, D}, gen, torch::kDouble);
        auto k = torch::randn({B, H, L, D}, gen, torch::kDouble);
        auto v = torch::randn({B, H, L, D}, gen, torch::kDouble);
        AttentionPattern pattern;
        pattern.window = window;
        if (docs) pattern.document_ids = document_ids_from_tokens(blt::test::random_tokens(B, L, gen, 0.1), 2);
        auto fast = pattern_attention(q, k, v, pattern, 0.3, /*block=*/8);
        AttentionPattern dense = pattern;
        dense.dense_reference = true;
        auto ref = pattern_attention(q, k, v, dense, 0.3, 8);
        INFO("L=" << L << " window=" << window << " docs=" << docs);
        CHECK(max_abs_diff(fast, ref) < 1e-12);
      }
    }
  }
}

TEST_CASE("local attention: explicit loop over allowed keys matches", "[model][attention]") {
  // Independent of dense_attention_mask: softmax over the allowed keys by hand.
  auto gen = seeded(2);
  const int64_t L = 23, D = 4, W = 6;
  auto q = torch::randn({1, 1, L, D}, gen, torch::kDouble);
  auto k = torch::randn({1, 1, L, D}, gen, torch::kDouble);
  auto v = torch::randn({1, 1, L, D}, gen, torch::kDouble);
  auto tokens = torch::full({1, L}, 10, torch::kLong);
  tokens[0][9] = 2;  // EOS ends document 0 at position 9
  AttentionPattern pattern;
  pattern.window = W;
  pattern.document_ids = document_ids_from_tokens(tokens, 2);
  auto out = pattern_attention(q, k, v, pattern, 0.5, 4);
  for (int64_t i = 0; i < L; ++i) {
    std::vector<int64_t> keys;
    for (int64_t j = 0; j <= i; ++j)
      if (i - j < W && (j <= 9) == (i <= 9)) keys.push_back(j);
    auto idx = torch::tensor(keys, torch::kLong);
    auto s = (k[0][0].index_select(0, idx).matmul(q[0][0][i])) * 0.5;
    auto expected = torch::softmax(s, 0).matmul(v[0][0].index_select(0, idx));
    CHECK(max_abs_diff(out[0][0][i], expected) < 1e-12);
  }
}

TEST_CASE("document spans: every span is one document of one row, in order", "[model][attention]") {
  auto gen = seeded(4);
  const int64_t B = 3, L = 50;
  auto tokens = blt::test::random_tokens(B, L, gen, 0.15);
  tokens[1][L - 1] = 2;  // an EOS that ends its row opens no empty span
  tokens[2][0] = 2;      // a one-byte document
  const auto spans = document_spans(tokens, 2, torch::kCPU);
  const auto offsets = spans.offsets.to(torch::kLong);
  const auto docs = document_ids_from_tokens(tokens, 2).flatten();
  const auto rows = torch::arange(B * L, torch::kLong).div(L, "floor");
  // Position p's span, from the offsets: the number of span starts at or before p, less one.
  const auto starts = offsets.narrow(0, 0, offsets.size(0) - 1);
  const auto span_of = torch::searchsorted(starts, torch::arange(B * L, torch::kLong), /*out_int32=*/false,
                                           /*right=*/true) - 1;
  CHECK(offsets[0].item<int64_t>() == 0);
  CHECK(offsets[-1].item<int64_t>() == B * L);
  CHECK(offsets.diff().gt(0).all().item<bool>());
  // Same span <=> same row and same document.
  const auto key = rows * (L + 1) + docs;
  CHECK(torch::equal(span_of.unsqueeze(0).eq(span_of.unsqueeze(1)), key.unsqueeze(0).eq(key.unsqueeze(1))));
  CHECK(spans.longest == offsets.diff().max().item<int64_t>());
  const auto by_row = row_spans(B, L, torch::kCPU);
  CHECK(torch::equal(by_row.offsets.to(torch::kLong), torch::arange(B + 1, torch::kLong) * L));
  CHECK(by_row.longest == L);
  CHECK_THROWS_WITH(document_spans(tokens.to(torch::kInt), 2, torch::kCPU),
                    Contains("document spans: tokens must be int64"));
}

TEST_CASE("local attention: flash over spans is as accurate as the blockwise path (needs CUDA)",
          "[model][attention][cuda]") {
  if (!torch::cuda::is_available()) {
    WARN("no CUDA device: flash attention over spans is checked on the GPU machine (bench/gpu_checks.sh test)");
    return;
  }
  REQUIRE(blt::compat::kHasFlashSpans);  // the GPU machine's LibTorch (2.11) has the kernel: else this tests nothing
  const torch::Device cuda(torch::kCUDA);
  auto gen = seeded(5);
  const int64_t B = 2, H = 4, L = 300, D = 64;
  const double u = std::ldexp(1.0, -8);  // bf16's unit roundoff
  struct Run {
    torch::Tensor out, dq, dk, dv;
  };
  for (int64_t window : {0, 16, 100}) {
    for (bool docs : {false, true}) {
      if (window == 0 && !docs) continue;  // plain causal attention: SDPA, not this path
      const auto tokens = blt::test::random_tokens(B, L, gen, 0.02);
      const auto q = torch::randn({B, H, L, D}, gen, torch::kDouble), k = torch::randn({B, H, L, D}, gen, torch::kDouble);
      const auto v = torch::randn({B, H, L, D}, gen, torch::kDouble), dout = torch::randn({B, H, L, D}, gen, torch::kDouble);
      const auto run = [&](const torch::Device& device, torch::ScalarType type, bool dense, bool spans) {
        std::vector<torch::Tensor> in;
        for (const auto& t : {q, k, v}) in.push_back(t.detach().to(device, type).requires_grad_());  // leaves
        AttentionPattern pattern;
        pattern.window = window;
        pattern.dense_reference = dense;
        if (docs) pattern.document_ids = document_ids_from_tokens(tokens, 2).to(device);
        if (spans) pattern.spans = docs ? document_spans(tokens, 2, device) : row_spans(B, L, device);
        CHECK(span_attention_applies(in[0], pattern) == spans);
        auto out = pattern_attention(in[0], in[1], in[2], pattern, 0.125);
        out.backward(dout.to(device, type));
        const auto host = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kDouble); };
        return Run{host(out), host(in[0].grad()), host(in[1].grad()), host(in[2].grad())};
      };
      const Run exact = run(torch::kCPU, torch::kDouble, true, false);
      // Against the path flash replaces (blockwise, or one dense-masked call for an unlimited window), in bf16 too.
      const Run flash = run(cuda, torch::kBFloat16, false, true), blocked = run(cuda, torch::kBFloat16, false, false);
      const auto error = [](const torch::Tensor& a, const torch::Tensor& ref) {
        return ((a - ref).norm() / ref.norm()).item<double>();
      };
      // Both paths round the same bf16 inputs' products and sums to bf16 at a few points; a wrong mask
      // (a key past the window or across a document) gives errors of order 1, not of order u.
      for (const auto& [name, part] : {std::pair{"out", &Run::out}, std::pair{"dq", &Run::dq}, std::pair{"dk", &Run::dk},
                                       std::pair{"dv", &Run::dv}}) {
        const double flash_error = error(flash.*part, exact.*part), blocked_error = error(blocked.*part, exact.*part);
        INFO("window " << window << " docs " << docs << " " << name << ": flash error " << flash_error
                       << ", replaced path's error " << blocked_error);
        CHECK(flash_error <= 2 * blocked_error + 8 * u);
      }
    }
  }
}

TEST_CASE("cross-attention: segment pooling and patch gathering equal dense masks in float64", "[model][attention]") {
  auto gen = seeded(3);
  for (int64_t kv_heads : {4, 2}) {
    CrossAttention cross(32, 4, kv_heads, 1e-5);
    init_double(*cross);
    for (int trial = 0; trial < 4; ++trial) {
      const int64_t B = 3, L = 29, k = 2;
      auto lengths = blt::test::random_patch_lengths(B, L, 6, gen);
      const int64_t P = lengths.size(1);
      auto bytes = torch::randn({B, L, 32}, gen, torch::kDouble);
      auto queries = torch::randn({B, P * k, 32}, gen, torch::kDouble);
      auto ids = patch_ids_from_lengths(lengths, L);
      auto pooled = cross->pool_bytes(queries, bytes, ids, k);
      auto pooled_ref = cross->dense(queries, bytes, pool_bytes_mask(ids, P, k));
      // Rows of empty (padding) patches have no keys: the fast path gives the
      // query itself (zero attention), the dense path is undefined there.
      auto real = lengths.gt(0).repeat_interleave(k, 1).unsqueeze(-1);
      CHECK(max_abs_diff(pooled.masked_select(real), pooled_ref.masked_select(real)) < 1e-12);

      auto dec_ids = decoder_patch_ids_from_lengths(lengths, L);
      auto patch_kv = torch::randn({B, P * k, 32}, gen, torch::kDouble);
      auto read = cross->read_patches(bytes, patch_kv, dec_ids, k);
      auto read_ref = cross->dense(bytes, patch_kv, read_patches_mask(dec_ids, P, k));
      CHECK(max_abs_diff(read, read_ref) < 1e-12);
    }
  }
}

TEST_CASE("patch ids: encoder and decoder assignment by hand", "[model][patching]") {
  auto lengths = torch::tensor({1, 3, 2}, torch::kLong).view({1, 3});
  auto enc = patch_ids_from_lengths(lengths, 6);
  CHECK(enc.equal(torch::tensor({0, 1, 1, 1, 2, 2}, torch::kLong).view({1, 6})));
  // Decoder: positions 0..2 read patch 0, 3..4 patch 1; the last position reads
  // patch 1 until a trailing zero-length patch marks that patch 2 ended at 5.
  auto dec = decoder_patch_ids_from_lengths(lengths, 6);
  CHECK(dec.equal(torch::tensor({0, 0, 0, 1, 1, 1}, torch::kLong).view({1, 6})));
  auto marked = torch::tensor({1, 3, 2, 0}, torch::kLong).view({1, 4});
  CHECK(decoder_patch_ids_from_lengths(marked, 6).equal(torch::tensor({0, 0, 0, 1, 1, 2}, torch::kLong).view({1, 6})));
  auto padded = torch::tensor({1, 3, 2, 0, 0}, torch::kLong).view({1, 5});
  CHECK(decoder_patch_ids_from_lengths(padded, 6).equal(torch::tensor({0, 0, 0, 1, 1, 2}, torch::kLong).view({1, 6})));
  REQUIRE_THROWS_WITH(check_patch_lengths(torch::tensor({1, 3, 1}, torch::kLong).view({1, 3}), 1, 6),
                      Catch::Matchers::Contains("sums to 5"));
  REQUIRE_THROWS_WITH(check_patch_lengths(torch::tensor({1, 0, 5}, torch::kLong).view({1, 3}), 1, 6),
                      Catch::Matchers::Contains("follows a zero"));
}

TEST_CASE("rope: scores depend only on the distance between positions", "[model][rope]") {
  auto gen = seeded(4);
  auto q = torch::randn({1, 1, 1, 16}, gen, torch::kDouble);
  auto k = torch::randn({1, 1, 1, 16}, gen, torch::kDouble);
  auto score = [&](int64_t i, int64_t j) {
    auto ti = rope_table(torch::tensor({i}, torch::kLong), 16, 500000.0, torch::kDouble);
    auto tj = rope_table(torch::tensor({j}, torch::kLong), 16, 500000.0, torch::kDouble);
    return (apply_rope(q, ti) * apply_rope(k, tj)).sum().item<double>();
  };
  CHECK(score(7, 3) == Approx(score(104, 100)).epsilon(1e-12));
  CHECK(score(0, 0) == Approx((q * k).sum().item<double>()).epsilon(1e-12));
  // Adjacent channels form the rotated pairs: position 1 rotates (x0, x1) by 1 radian.
  auto x = torch::zeros({1, 1, 1, 16}, torch::kDouble);
  x[0][0][0][0] = 1.0;
  auto r = apply_rope(x, rope_table(torch::tensor({1}, torch::kLong), 16, 500000.0, torch::kDouble));
  CHECK(r[0][0][0][0].item<double>() == Approx(std::cos(1.0)));
  CHECK(r[0][0][0][1].item<double>() == Approx(std::sin(1.0)));
}

TEST_CASE("gradients of a transformer layer and of encoder pooling match finite differences", "[model][grad]") {
  auto gen = seeded(5);
  TransformerShape shape{16, 1, 4, 2, 24, 1e-5, 10000.0, 4, 64};
  TransformerLayer layer(shape);
  init_double(*layer);
  CrossAttention cross(16, 4, 2, 1e-5);
  init_double(*cross);
  const int64_t L = 11;
  auto x = torch::randn({1, L, 16}, gen, torch::kDouble);
  auto lengths = torch::tensor({1, 4, 3, 3}, torch::kLong).view({1, 4});
  auto ids = patch_ids_from_lengths(lengths, L);
  auto w = torch::randn({1, 8, 16}, gen, torch::kDouble);
  AttentionPattern pattern;
  pattern.window = 4;
  auto loss = [&]() {
    auto h = layer->forward(x, rope_for(shape, L, torch::kDouble, torch::kCPU), pattern);
    auto queries = max_pool_patches(h, ids, 4).repeat_interleave(2, 1);
    return (cross->pool_bytes(queries, h, ids, 2) * w).sum();
  };
  std::vector<torch::Tensor> params = layer->parameters();
  for (auto& p : cross->parameters()) params.push_back(p);
  for (auto& p : params) p.mutable_grad() = torch::Tensor();
  loss().backward();
  const double eps = 1e-6;
  int checked = 0;
  for (auto& p : params) {
    auto flat = p.detach().view({-1});
    for (int64_t probe = 0; probe < 3; ++probe) {
      const int64_t i = torch::randint(flat.numel(), {1}, gen).item<int64_t>();
      const double analytic = p.grad().view({-1})[i].item<double>();
      torch::NoGradGuard no_grad;
      const double saved = flat[i].item<double>();
      flat[i] = saved + eps;
      const double up = loss().item<double>();
      flat[i] = saved - eps;
      const double down = loss().item<double>();
      flat[i] = saved;
      const double numeric = (up - down) / (2 * eps);
      INFO("parameter entry " << i << " analytic " << analytic << " numeric " << numeric);
      CHECK(std::abs(analytic - numeric) < 1e-6 * std::max(1.0, std::abs(numeric)));
      ++checked;
    }
  }
  CHECK(checked > 20);
}

TEST_CASE("patch ids equal the Hugging Face formulas on random lengths", "[model][patching]") {
  // HF: ids = (number of patch starts <= position) - 1, starts = [0, cumsum(lengths)[:-1]];
  // the decoder applies it to lengths[:, 1:]. Rows here carry at most one trailing zero.
  auto gen = seeded(6);
  auto hf_ids = [](const torch::Tensor& lengths, int64_t L) {
    auto starts = torch::cat({torch::zeros({lengths.size(0), 1}, torch::kLong), lengths.cumsum(1).narrow(1, 0, lengths.size(1) - 1)}, 1);
    auto pos = torch::arange(L, torch::kLong);
    return starts.unsqueeze(1).le(pos.view({1, L, 1})).sum(-1) - 1;
  };
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t L = 10 + trial * 7;
    auto lengths = blt::test::random_patch_lengths(1, L, 1 + trial % 7, gen);
    CHECK(patch_ids_from_lengths(lengths, L).equal(hf_ids(lengths, L)));
    using torch::indexing::Slice;
    CHECK(decoder_patch_ids_from_lengths(lengths, L).equal(hf_ids(lengths.index({Slice(), Slice(1)}), L)));
  }
}
