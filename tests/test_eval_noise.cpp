// Character noise for `blt eval --noise`: each type does what it says, on UTF-8
// characters, at the rate asked for, reproducibly.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "blt/core/error.h"
#include "blt/eval/noise.h"
#include "blt/eval/seeded_random.h"
#include "blt/eval/utf8_chars.h"

using namespace blt::eval;

namespace {

std::vector<std::string> chars(const std::string& text) {
  std::vector<std::string> out;
  for (auto c : utf8_chars(text)) out.emplace_back(c);
  return out;
}

// `n` characters from a mixed alphabet (1- to 4-byte UTF-8, letters with and
// without case partners), no character twice in a row, so that a repeat or a
// swap is always visible in the output.
std::string mixed_text(std::size_t n, uint64_t seed) {
  static const std::vector<std::string> alphabet = {"a", "B", "z", " ", ".", "7", "é", "Ä", "ß", "Ω", "ж",
                                                    "Я", "中", "文", "😀", "x", "Q", "\n"};
  SeededRandom r(seed);
  std::string out;
  std::size_t last = alphabet.size();
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t k = r.below(alphabet.size());
    while (k == last) k = r.below(alphabet.size());
    out += alphabet[k];
    last = k;
  }
  return out;
}

// The edits must be Binomial(candidates, rate). A fixed seed makes each outcome
// fixed, so the question is whether that outcome is one a correct implementation
// produces: within 6 standard deviations, sqrt(n p (1 - p)), of n p, which the
// normal approximation (n p = 500 here, well into its range) misses with
// probability 2e-9. Twice or half the rate lands 500/21.8 = 23 or 11 deviations
// away. For swap, whether a character is a candidate depends on the draws before
// it, but each draw is still a fresh Bernoulli(rate): edits - rate * candidates
// is a martingale with increments of variance p (1 - p), and the same bound holds.
void check_rate(const NoiseCounts& c, double rate) {
  const double n = static_cast<double>(c.candidates);
  const double sd = std::sqrt(n * rate * (1 - rate));
  CAPTURE(c.candidates, c.edits, rate);
  CHECK(std::abs(static_cast<double>(c.edits) - n * rate) <= 6 * sd);
}

}  // namespace

TEST_CASE("utf8 characters: valid text splits into characters, invalid bytes into single pieces", "[eval-suite][noise]") {
  const std::string text = "aé中😀";
  REQUIRE(utf8_chars(text).size() == 4);
  CHECK(decode_char("中") == 0x4E2D);
  CHECK(encode_char(0x1F600) == "😀");
  CHECK_FALSE(first_invalid_utf8(text).has_value());
  const std::string bad = std::string("ab\xC3", 3) + "(" + "\xE2\x82" + "x" + "\xC0\xAF";  // truncated, truncated, overlong
  CHECK(first_invalid_utf8(bad) == std::optional<std::size_t>(2));
  std::string joined;
  for (auto c : utf8_chars(bad)) joined += c;
  CHECK(joined == bad);
  CHECK(utf8_chars(bad).size() == bad.size());  // every byte here stands alone
  CHECK(first_invalid_utf8("\xED\xA0\x80").has_value());  // a UTF-16 surrogate
}

TEST_CASE("noise case: only letters with a partner change, into that partner", "[eval-suite][noise]") {
  const std::string text = mixed_text(20000, 1);
  NoiseCounts counts;
  const auto out = add_noise(text, NoiseType::kCase, 0.05, 7, &counts);
  const auto in_chars = chars(text), out_chars = chars(out);
  REQUIRE(in_chars.size() == out_chars.size());
  int64_t changed = 0, partners = 0;
  for (std::size_t i = 0; i < in_chars.size(); ++i) {
    const int32_t partner = case_partner(decode_char(in_chars[i]));
    partners += partner >= 0;
    if (in_chars[i] == out_chars[i]) continue;
    ++changed;
    CHECK(decode_char(out_chars[i]) == partner);
  }
  CHECK(changed == counts.edits);
  CHECK(partners == counts.candidates);  // "ß", digits, CJK, emoji, punctuation are no candidates
  CHECK(case_partner('q') == 'Q');
  CHECK(case_partner(0x416) == 0x436);  // Ж -> ж
  CHECK(case_partner(0xDF) == -1);      // ß
  check_rate(counts, 0.05);
}

TEST_CASE("noise delete and repeat: characters dropped or doubled, the rest in order", "[eval-suite][noise]") {
  const std::string text = mixed_text(20000, 2);
  const auto in_chars = chars(text);
  NoiseCounts deleted, repeated;
  const auto d = chars(add_noise(text, NoiseType::kDelete, 0.05, 3, &deleted));
  const auto r = chars(add_noise(text, NoiseType::kRepeat, 0.05, 3, &repeated));
  CHECK(deleted.candidates == static_cast<int64_t>(in_chars.size()));
  CHECK(d.size() == in_chars.size() - static_cast<std::size_t>(deleted.edits));
  CHECK(r.size() == in_chars.size() + static_cast<std::size_t>(repeated.edits));
  // Delete: the output is the input with characters left out.
  std::size_t j = 0;
  for (std::size_t i = 0; i < in_chars.size() && j < d.size(); ++i) j += in_chars[i] == d[j];
  CHECK(j == d.size());
  // Repeat: no input character repeats its neighbour, so each is matched by a run of one or two.
  j = 0;
  int64_t doubled = 0;
  for (const auto& c : in_chars) {
    REQUIRE(j < r.size());
    REQUIRE(r[j] == c);
    ++j;
    if (j < r.size() && r[j] == c) ++j, ++doubled;
  }
  CHECK(j == r.size());
  CHECK(doubled == repeated.edits);
  check_rate(deleted, 0.05);
  check_rate(repeated, 0.05);
}

TEST_CASE("noise swap: disjoint neighbouring pairs change places", "[eval-suite][noise]") {
  const std::string text = mixed_text(20000, 3);
  const auto in_chars = chars(text);
  NoiseCounts counts;
  const auto out = chars(add_noise(text, NoiseType::kSwap, 0.05, 11, &counts));
  REQUIRE(out.size() == in_chars.size());
  int64_t swaps = 0;
  for (std::size_t i = 0; i < in_chars.size(); ++i) {
    if (out[i] == in_chars[i]) continue;
    REQUIRE(i + 1 < in_chars.size());
    CHECK(out[i] == in_chars[i + 1]);
    CHECK(out[i + 1] == in_chars[i]);
    ++swaps;
    ++i;
  }
  CHECK(swaps == counts.edits);
  // Every character but the last is a candidate unless the one before it moved it.
  CHECK(counts.candidates == static_cast<int64_t>(in_chars.size()) - 1 - counts.edits);
  check_rate(counts, 0.05);
}

TEST_CASE("noise: deterministic by seed, UTF-8 stays valid, rate 0 and 1, bad input", "[eval-suite][noise]") {
  const std::string text = mixed_text(3000, 4);
  for (const auto type : parse_noise_types("case,delete,repeat,swap")) {
    CAPTURE(noise_name(type));
    const auto a = add_noise(text, type, 0.5, 42), b = add_noise(text, type, 0.5, 42), c = add_noise(text, type, 0.5, 43);
    CHECK(a == b);
    CHECK(a != c);
    CHECK_FALSE(first_invalid_utf8(a).has_value());
    CHECK(add_noise(text, type, 0.0, 1) == text);
    NoiseCounts all;
    add_noise(text, type, 1.0, 1, &all);
    CHECK(all.edits == all.candidates);
  }
  CHECK(add_noise("", NoiseType::kSwap, 0.5, 1).empty());
  CHECK_THROWS_WITH(add_noise("abc", NoiseType::kDelete, 1.5, 1), Catch::Contains("noise rate must be in [0, 1]"));
  CHECK_THROWS_WITH(add_noise("abc", NoiseType::kDelete, std::nan(""), 1), Catch::Contains("noise rate"));
  CHECK_THROWS_WITH(parse_noise_types("case,shout"), Catch::Contains("unknown noise type 'shout'"));
  CHECK_THROWS_WITH(parse_noise_types("case,case"), Catch::Contains("listed twice"));
}
