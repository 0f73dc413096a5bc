// UTF-8 checks for byte-level text: where a byte string stops being valid UTF-8,
// and a streaming writer that passes valid UTF-8 through and replaces every
// maximal invalid subpart with U+FFFD (the Unicode "substitution of maximal
// subparts" practice, the same as Python's bytes.decode(errors="replace")).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace blt {

// Offset of the first byte that is not part of a valid UTF-8 sequence, or
// std::string::npos when the whole string is valid (a truncated sequence at
// the end counts as invalid at its first byte).
std::size_t utf8_error_offset(const std::string& bytes);

// Bytes arrive one at a time; push() returns what can be printed now (an
// incomplete sequence is held back until it completes or turns out invalid).
class Utf8Sanitizer {
 public:
  std::string push(uint8_t byte);
  // Whatever is held back at the end (an unfinished sequence) as U+FFFD.
  std::string finish();
  // Replacement characters written so far.
  int64_t replacements() const { return replacements_; }

 private:
  std::string start(uint8_t byte);
  std::string replacement();

  std::string pending_;
  int need_ = 0;                  // continuation bytes still expected
  uint8_t lo_ = 0x80, hi_ = 0xBF;  // allowed range of the next continuation byte
  int64_t replacements_ = 0;
};

}  // namespace blt
