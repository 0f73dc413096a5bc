// Character noise for robustness evaluation: the same text with characters
// case-flipped, deleted, repeated or swapped with their neighbour. Noise works on
// UTF-8 characters, never inside one, so valid UTF-8 stays valid; the edits are
// a deterministic function of (text, type, rate, seed).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace blt::eval {

enum class NoiseType { kCase, kDelete, kRepeat, kSwap };

// "case", "delete", "repeat", "swap".
std::string noise_name(NoiseType type);
// A comma-separated list of those names; an unknown or repeated one is an error.
std::vector<NoiseType> parse_noise_types(const std::string& list);

struct NoiseCounts {
  int64_t candidates = 0;  // characters that were given the chance to be edited
  int64_t edits = 0;       // of those, the ones edited
};

// Each candidate character is edited with probability `rate`, independently:
//   case:   a letter with a case partner (ASCII, Latin-1, Greek, Cyrillic) becomes
//           the partner; characters without one are not candidates;
//   delete: the character is dropped;
//   repeat: the character appears twice;
//   swap:   the character changes place with the next one. Every character that
//           has a next one and was not just moved by a swap is a candidate.
std::string add_noise(std::string_view text, NoiseType type, double rate, uint64_t seed, NoiseCounts* counts = nullptr);

// The other-case partner of a code point, or -1 when it has none in the table above.
int32_t case_partner(int32_t code_point);

}  // namespace blt::eval
