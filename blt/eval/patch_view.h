// What `blt patch` shows: where an entropy model's patches fall in a text, with
// the entropy of the model's prediction of every byte, as terminal text (patches
// in alternating colours), a per-byte table, JSON, or a self-contained HTML page.
// The boundaries come from model::Patcher itself.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "blt/model/patcher.h"

namespace blt::eval {

struct PatchView {
  std::string text;                    // valid UTF-8
  std::vector<int64_t> patch_lengths;  // over the text's bytes, in order; sum = text.size()
  std::vector<double> entropies;       // per byte: entropy (nats) of the entropy model's prediction of it
  std::string mode;                    // entropy or entropy_monotonic
  double threshold = 0;                // on the entropy (entropy) or on its rise (entropy_monotonic)
};

// Patches and entropies of `text` read after BOS, as every document is in
// training: the patcher's first one-byte patch (BOS) is dropped. `text` must be
// non-empty valid UTF-8 (the error gives the offset of the first bad byte).
PatchView view_patches(const model::Patcher& patcher, const std::string& text);

// The text with a new colour (ANSI background, alternating) at every patch, or,
// without colour, with '|' between patches. A boundary inside a multi-byte
// character is shown before that character. Control characters are shown as
// their Unicode control pictures, so the text cannot drive the terminal.
std::string render_terminal(const PatchView& view, bool color);
// One line per byte: offset, byte, character, entropy, whether a patch starts there.
std::string render_entropy_table(const PatchView& view);
nlohmann::json patch_view_json(const PatchView& view);
// A self-contained page (no scripts, no external resources): every character on
// a background coloured by its entropy, patch starts marked, a legend.
// `source` (e.g. the entropy model's path) appears in the header, escaped.
std::string render_html(const PatchView& view, const std::string& source);

// `text` with &, <, >, " and ' replaced by character references.
std::string html_escape(const std::string& text);

}  // namespace blt::eval
