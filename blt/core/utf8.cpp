#include "blt/core/utf8.h"

namespace blt {

namespace {

// Well-formed sequences (Unicode table 3-7): the continuation bytes a lead byte
// needs and the range of the first one (the later ones are always 80..BF).
// Excludes overlong forms, surrogates and code points above U+10FFFF.
struct Lead {
  int continuation;  // -1: not a valid lead byte
  uint8_t lo, hi;
};

Lead lead_rule(uint8_t b) {
  if (b < 0x80) return {0, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {1, 0x80, 0xBF};
  if (b == 0xE0) return {2, 0xA0, 0xBF};
  if (b == 0xED) return {2, 0x80, 0x9F};
  if (b >= 0xE1 && b <= 0xEF) return {2, 0x80, 0xBF};
  if (b == 0xF0) return {3, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {3, 0x80, 0xBF};
  if (b == 0xF4) return {3, 0x80, 0x8F};
  return {-1, 0, 0};
}

}  // namespace

std::size_t utf8_error_offset(const std::string& bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto rule = lead_rule(static_cast<uint8_t>(bytes[i]));
    if (rule.continuation < 0) return i;
    for (int j = 1; j <= rule.continuation; ++j) {
      if (i + j >= bytes.size()) return i;
      const auto c = static_cast<uint8_t>(bytes[i + j]);
      const uint8_t lo = j == 1 ? rule.lo : 0x80, hi = j == 1 ? rule.hi : 0xBF;
      if (c < lo || c > hi) return i;
    }
    i += 1 + static_cast<std::size_t>(rule.continuation);
  }
  return std::string::npos;
}

std::string Utf8Sanitizer::replacement() {
  ++replacements_;
  return "\xEF\xBF\xBD";
}

std::string Utf8Sanitizer::start(uint8_t byte) {
  const auto rule = lead_rule(byte);
  if (rule.continuation < 0) return replacement();
  if (rule.continuation == 0) return std::string(1, static_cast<char>(byte));
  pending_.assign(1, static_cast<char>(byte));
  need_ = rule.continuation;
  lo_ = rule.lo;
  hi_ = rule.hi;
  return {};
}

std::string Utf8Sanitizer::push(uint8_t byte) {
  if (pending_.empty()) return start(byte);
  if (byte >= lo_ && byte <= hi_) {
    pending_.push_back(static_cast<char>(byte));
    lo_ = 0x80;
    hi_ = 0xBF;
    if (--need_ > 0) return {};
    std::string out;
    out.swap(pending_);
    return out;
  }
  // The held bytes are a maximal invalid subpart; this byte may start something valid.
  pending_.clear();
  need_ = 0;
  return replacement() + start(byte);
}

std::string Utf8Sanitizer::finish() {
  if (pending_.empty()) return {};
  pending_.clear();
  need_ = 0;
  return replacement();
}

}  // namespace blt
