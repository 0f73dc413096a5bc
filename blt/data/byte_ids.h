// The 260-id byte vocabulary of BLT: 4 special ids, then byte b is id b + 4
// (the reference's bytelatent tokenizer constants; the HF port uses the same).
#pragma once
#include <cstdint>

namespace blt::data {

constexpr int64_t kBoeId = 0;     // beginning of entity: padding inside patches
constexpr int64_t kBosId = 1;     // starts every document
constexpr int64_t kEosId = 2;     // ends every document; local attention resets after it
constexpr int64_t kBpeId = 3;     // reserved by the reference for BPE delimiters; unused here
constexpr int64_t kByteOffset = 4;
constexpr int64_t kVocabSize = 256 + kByteOffset;
constexpr int64_t kIgnoreId = -1;  // target positions that carry no loss (padding)

constexpr int64_t byte_to_id(uint8_t b) { return static_cast<int64_t>(b) + kByteOffset; }

}  // namespace blt::data
