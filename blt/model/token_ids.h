// The 260-id byte vocabulary: 4 special ids, then byte b is id b + 4.
#pragma once
#include <cstdint>

namespace blt::model {

constexpr int64_t kBoeId = 0;
constexpr int64_t kBosId = 1;
constexpr int64_t kEosId = 2;
constexpr int64_t kByteOffset = 4;
constexpr int64_t kByteVocab = 260;

}  // namespace blt::model
