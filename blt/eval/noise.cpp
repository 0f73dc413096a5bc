#include "blt/eval/noise.h"

#include <algorithm>

#include "blt/core/error.h"
#include "blt/eval/seeded_random.h"
#include "blt/eval/utf8_chars.h"

namespace blt::eval {

namespace {

constexpr NoiseType kAllTypes[] = {NoiseType::kCase, NoiseType::kDelete, NoiseType::kRepeat, NoiseType::kSwap};

}  // namespace

std::string noise_name(NoiseType type) {
  switch (type) {
    case NoiseType::kCase: return "case";
    case NoiseType::kDelete: return "delete";
    case NoiseType::kRepeat: return "repeat";
    case NoiseType::kSwap: return "swap";
  }
  return "?";
}

std::vector<NoiseType> parse_noise_types(const std::string& list) {
  std::vector<NoiseType> types;
  std::size_t from = 0;
  while (from <= list.size()) {
    const std::size_t comma = std::min(list.find(',', from), list.size());
    const std::string name = list.substr(from, comma - from);
    bool known = false;
    for (const auto t : kAllTypes) {
      if (noise_name(t) != name) continue;
      known = true;
      for (const auto seen : types)
        if (seen == t) fail("noise type '{}' is listed twice in '{}'", name, list);
      types.push_back(t);
    }
    if (!known) fail("unknown noise type '{}' in '{}' (known: case, delete, repeat, swap)", name, list);
    from = comma + 1;
  }
  return types;
}

int32_t case_partner(int32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c >= 'a' && c <= 'z') return c - 32;
  // Latin-1 letters (U+00D7 and U+00F7 are the multiplication and division signs;
  // U+00DF and U+00FF have no single-character partner there).
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  // Greek capitals U+0391..U+03A9 (U+03A2 is unassigned) and their small letters.
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
  // Cyrillic: А..Я <-> а..я, and Ѐ..Џ <-> ѐ..џ.
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return -1;
}

std::string add_noise(std::string_view text, NoiseType type, double rate, uint64_t seed, NoiseCounts* counts) {
  if (!(rate >= 0.0 && rate <= 1.0)) fail("noise rate must be in [0, 1], got {}", rate);
  SeededRandom random(seed);
  NoiseCounts n;
  const auto chars = utf8_chars(text);
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (std::size_t i = 0; i < chars.size(); ++i) {
    const auto c = chars[i];
    switch (type) {
      case NoiseType::kCase: {
        const int32_t partner = case_partner(decode_char(c));
        if (partner < 0) {
          out += c;
          break;
        }
        ++n.candidates;
        if (random.bernoulli(rate)) {
          ++n.edits;
          out += encode_char(partner);
        } else {
          out += c;
        }
        break;
      }
      case NoiseType::kDelete:
      case NoiseType::kRepeat: {
        ++n.candidates;
        const bool edit = random.bernoulli(rate);
        n.edits += edit;
        if (!edit) out += c;
        else if (type == NoiseType::kRepeat) (out += c) += c;
        break;
      }
      case NoiseType::kSwap: {
        if (i + 1 == chars.size()) {
          out += c;
          break;
        }
        ++n.candidates;
        if (random.bernoulli(rate)) {
          ++n.edits;
          (out += chars[i + 1]) += c;
          ++i;  // the next character has moved: it is not a candidate of its own
        } else {
          out += c;
        }
        break;
      }
    }
  }
  if (counts) {
    counts->candidates += n.candidates;
    counts->edits += n.edits;
  }
  return out;
}

}  // namespace blt::eval
