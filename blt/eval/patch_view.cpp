#include "blt/eval/patch_view.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "blt/core/error.h"
#include "blt/data/byte_ids.h"
#include "blt/eval/continuation_score.h"
#include "blt/eval/utf8_chars.h"

namespace blt::eval {

namespace {

// A character of the text with the patches it belongs to.
struct ShownChar {
  std::size_t offset;  // of its first byte
  std::string_view bytes;
  int64_t patch;        // the patch of its last byte: a boundary inside it is shown before it
  bool starts_patch;    // one of its bytes starts a patch (not counting the text's first byte)
  bool split;           // a patch starts inside it
};

std::vector<ShownChar> shown_chars(const PatchView& view) {
  std::vector<int64_t> patch_of(view.text.size());
  std::vector<bool> starts(view.text.size(), false);
  std::size_t at = 0;
  for (std::size_t p = 0; p < view.patch_lengths.size(); ++p) {
    starts[at] = p > 0;
    for (int64_t k = 0; k < view.patch_lengths[p]; ++k) patch_of[at++] = static_cast<int64_t>(p);
  }
  std::vector<ShownChar> out;
  std::size_t offset = 0;
  for (const auto c : utf8_chars(view.text)) {
    ShownChar s{offset, c, patch_of[offset + c.size() - 1], false, false};
    for (std::size_t k = 0; k < c.size(); ++k) {
      s.starts_patch = s.starts_patch || starts[offset + k];
      s.split = s.split || (k > 0 && starts[offset + k]);
    }
    out.push_back(s);
    offset += c.size();
  }
  return out;
}

// Control characters (C0, DEL, C1) as something printable that cannot act on a terminal.
std::string printable(std::string_view c, bool keep_layout) {
  const int32_t cp = decode_char(c);
  if (keep_layout && (cp == '\n' || cp == '\t')) return std::string(c);
  if (cp < 0x20) return encode_char(0x2400 + cp);
  if (cp == 0x7F) return encode_char(0x2421);
  if (cp >= 0x80 && cp < 0xA0) return encode_char(0xFFFD);
  return std::string(c);
}

// White -> orange -> red for t in [0, 1].
std::string heat_colour(double t) {
  static const double stops[3][3] = {{255, 255, 255}, {253, 174, 97}, {215, 48, 39}};
  t = std::clamp(t, 0.0, 1.0) * 2.0;
  const int i = t < 1.0 ? 0 : 1;
  const double f = t - i;
  int rgb[3];
  for (int k = 0; k < 3; ++k) rgb[k] = static_cast<int>(std::lround(stops[i][k] + f * (stops[i + 1][k] - stops[i][k])));
  return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]);
}

}  // namespace

PatchView view_patches(const model::Patcher& patcher, const std::string& text) {
  if (text.empty()) fail("the text is empty: nothing to patch");
  if (const auto bad = first_invalid_utf8(text)) fail("the text is not UTF-8: invalid byte at offset {}", *bad);
  std::vector<int64_t> ids = {data::kBosId};
  const auto bytes = byte_ids(text);
  ids.insert(ids.end(), bytes.begin(), bytes.end());
  const auto tokens = torch::tensor(ids, torch::kLong).view({1, -1});
  PatchView view;
  view.text = text;
  view.mode = patcher.config().mode;
  view.threshold = view.mode == "entropy_monotonic" ? patcher.config().monotonic_threshold : patcher.config().threshold;
  const auto lengths = patcher.patch(tokens).to(torch::kCPU)[0];
  // The first patch is BOS alone (the patcher's rule); every later real patch lies in the text.
  for (int64_t p = 1; p < lengths.size(0); ++p)
    if (const int64_t n = lengths[p].item<int64_t>(); n > 0) view.patch_lengths.push_back(n);
  // Column i predicts the id at i + 1, i.e. text byte i.
  const auto entropies = patcher.entropies(tokens).to(torch::kCPU).to(torch::kDouble)[0];
  view.entropies.assign(entropies.data_ptr<double>(), entropies.data_ptr<double>() + text.size());
  return view;
}

std::string render_terminal(const PatchView& view, bool color) {
  static const char* const kBackgrounds[2] = {"\x1b[30;48;5;153m", "\x1b[30;48;5;223m"};  // light blue, light orange
  static const char* const kReset = "\x1b[0m";
  std::string out;
  int64_t coloured = -1;  // the patch whose colour is on
  for (const auto& c : shown_chars(view)) {
    const std::string shown = printable(c.bytes, true);
    if (!color) {
      if (c.starts_patch) out += '|';
      out += shown;
    } else if (shown == "\n") {
      out += std::string(kReset) + "\n";  // a background colour running to the end of the line would blur the patches
      coloured = -1;
    } else {
      if (c.patch != coloured) out += kBackgrounds[c.patch % 2];
      coloured = c.patch;
      out += shown;
    }
  }
  if (color) out += kReset;
  return out + "\n";
}

std::string render_entropy_table(const PatchView& view) {
  std::string out = fmt::format("{:>8}  {:>4}  {:<4}  {:>9}  {}\n", "offset", "byte", "char", "entropy", "patch");
  std::size_t at = 0, patch = 0;
  std::vector<bool> starts(view.text.size(), false);
  for (const auto n : view.patch_lengths) {
    starts[at] = true;
    at += static_cast<std::size_t>(n);
  }
  std::size_t offset = 0;
  for (const auto c : utf8_chars(view.text)) {
    for (std::size_t k = 0; k < c.size(); ++k) {
      const std::size_t i = offset + k;
      if (starts[i] && i > 0) ++patch;
      out += fmt::format("{:>8}  0x{:02X}  {:<4}  {:>9.4f}  {}{}\n", i, static_cast<uint8_t>(view.text[i]),
                         k == 0 ? printable(c, false) : "", view.entropies[i], patch, starts[i] ? " start" : "");
    }
    offset += c.size();
  }
  return out;
}

nlohmann::json patch_view_json(const PatchView& view) {
  const double mean = static_cast<double>(view.text.size()) / static_cast<double>(view.patch_lengths.size());
  return nlohmann::json{{"bytes", view.text.size()},           {"patches", view.patch_lengths.size()},
                        {"mean_patch", mean},                 {"mode", view.mode},
                        {"threshold", view.threshold},         {"patch_lengths", view.patch_lengths},
                        {"entropies", view.entropies}};
}

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_html(const PatchView& view, const std::string& source) {
  const double top = std::max(*std::max_element(view.entropies.begin(), view.entropies.end()), 1e-9);
  const double mean = static_cast<double>(view.text.size()) / static_cast<double>(view.patch_lengths.size());
  const std::string threshold_note =
      view.mode == "entropy"
          ? fmt::format("a patch starts at a byte whose entropy is above the threshold, {:.4f} nats", view.threshold)
          : fmt::format("a patch starts at a byte whose entropy rose by more than {:.4f} nats from the byte before",
                        view.threshold);
  std::string body;
  int64_t open_patch = -1;
  for (const auto& c : shown_chars(view)) {
    if (c.patch != open_patch) {
      if (open_patch >= 0) body += "</span>";
      body += fmt::format("<span class=\"patch p{}\" title=\"patch {}\">", c.patch % 2, c.patch);
      open_patch = c.patch;
    }
    std::string per_byte;
    for (std::size_t k = 0; k < c.bytes.size(); ++k)
      per_byte += fmt::format("{}{:.3f}", k ? ", " : "", view.entropies[c.offset + k]);
    body += fmt::format("<span class=\"c{}\" style=\"background:{}\" title=\"byte {}: {} nats{}\">{}</span>",
                        c.split ? " split" : "", heat_colour(view.entropies[c.offset] / top), c.offset, per_byte,
                        c.split ? " (a patch starts inside this character)" : "",
                        html_escape(printable(c.bytes, true)));
  }
  if (open_patch >= 0) body += "</span>";
  const double marker = view.mode == "entropy" ? std::clamp(view.threshold / top, 0.0, 1.0) * 100.0 : -1.0;
  return fmt::format(
      R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>blt patch: {source}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 60em; }}
.text {{ font-family: monospace; font-size: 15px; line-height: 2.1; white-space: pre-wrap; word-break: break-all; }}
.patch {{ border-left: 2px solid #222; padding-bottom: 2px; }}
.p0 {{ box-shadow: inset 0 -3px 0 #4a90d9; }}
.p1 {{ box-shadow: inset 0 -3px 0 #2ca25f; }}
.split {{ outline: 1px dashed #222; }}
.legend {{ display: flex; align-items: center; gap: 0.6em; margin: 1em 0 1.5em; font-size: 14px; }}
.bar {{ position: relative; width: 16em; height: 1em; border: 1px solid #888;
        background: linear-gradient(to right, {c0}, {c1}, {c2}); }}
.mark {{ position: absolute; top: -4px; bottom: -4px; width: 2px; background: #000; }}
.sample {{ font-family: monospace; border-left: 2px solid #222; padding: 0 0.3em; }}
</style>
</head>
<body>
<h1>Patches of {bytes} bytes</h1>
<p>Entropy model: <code>{source}</code>. Mode {mode}: {note}. {patches} patches, mean {mean:.2f} bytes.</p>
<div class="legend">
<span>entropy of the prediction of each character's first byte: 0</span>
<span class="bar">{marker}</span><span>{top:.2f} nats</span>
<span class="sample">|</span><span>patch start (underline colours alternate per patch; a dashed box: a patch starts inside that character; hover for per-byte values)</span>
</div>
<div class="text">{body}</div>
</body>
</html>
)",
      fmt::arg("source", html_escape(source)), fmt::arg("c0", heat_colour(0)), fmt::arg("c1", heat_colour(0.5)),
      fmt::arg("c2", heat_colour(1)), fmt::arg("bytes", view.text.size()), fmt::arg("mode", view.mode),
      fmt::arg("note", html_escape(threshold_note)), fmt::arg("patches", view.patch_lengths.size()),
      fmt::arg("mean", mean), fmt::arg("top", top),
      fmt::arg("marker", marker >= 0 ? fmt::format("<span class=\"mark\" style=\"left:{:.1f}%\" title=\"threshold\"></span>", marker) : ""),
      fmt::arg("body", body));
}

}  // namespace blt::eval
