// Text as characters rather than bytes, for the evaluation side (noise, character
// tasks, patch views): UTF-8 split into characters, validated, re-encoded.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace blt::eval {

// The byte offset of the first byte that starts no valid UTF-8 sequence
// (overlong forms, surrogates and code points above U+10FFFF are invalid too).
std::optional<std::size_t> first_invalid_utf8(std::string_view text);

// `text` cut into characters (each a valid UTF-8 sequence); a byte that starts
// no valid sequence becomes a one-byte piece of its own, so the pieces always
// concatenate back to `text`.
std::vector<std::string_view> utf8_chars(std::string_view text);

// Code point of one valid UTF-8 character; -1 for an invalid piece.
int32_t decode_char(std::string_view utf8);
std::string encode_char(int32_t code_point);

}  // namespace blt::eval
