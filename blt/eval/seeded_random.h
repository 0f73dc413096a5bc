// Random numbers for generated evaluation data (noise, task items) whose sequence
// is the same on every platform and standard library: the std:: distributions are
// implementation-defined, so a seed would not reproduce a data set elsewhere.
#pragma once
#include <cstdint>

namespace blt::eval {

// SplitMix64 (Steele, Lea, Flood 2014): one 64-bit state, full period.
class SeededRandom {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool bernoulli(double p) { return uniform() < p; }
  // Uniform in [0, n); the modulo bias (< n / 2^64) is far below anything measured.
  uint64_t below(uint64_t n) { return next() % n; }

 private:
  uint64_t state_;
};

// A seed for stream `stream` of `seed` (e.g. one per document or noise type),
// decorrelated from neighbouring streams.
inline uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  SeededRandom r(seed ^ (stream * 0xD1B54A32D192ED03ull));
  return r.next();
}

}  // namespace blt::eval
