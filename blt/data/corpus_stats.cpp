#include "blt/data/corpus_stats.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "blt/core/progress.h"

namespace blt::data {

namespace {

struct ScriptRange {
  uint32_t first, last;
  const char* name;
};

// Coarse Unicode blocks, sorted by start; anything else is "Other".
constexpr ScriptRange kScripts[] = {
    {0x0000, 0x0040, "Common"},        {0x0041, 0x005A, "Latin"},          {0x005B, 0x0060, "Common"},
    {0x0061, 0x007A, "Latin"},         {0x007B, 0x00BF, "Common"},         {0x00C0, 0x024F, "Latin"},
    {0x0250, 0x02FF, "Latin"},         {0x0300, 0x036F, "Combining"},      {0x0370, 0x03FF, "Greek"},
    {0x0400, 0x052F, "Cyrillic"},      {0x0530, 0x058F, "Armenian"},       {0x0590, 0x05FF, "Hebrew"},
    {0x0600, 0x06FF, "Arabic"},        {0x0750, 0x077F, "Arabic"},         {0x0900, 0x0DFF, "Indic"},
    {0x0E00, 0x0E7F, "Thai"},          {0x10A0, 0x10FF, "Georgian"},       {0x1100, 0x11FF, "Hangul"},
    {0x1E00, 0x1EFF, "Latin"},         {0x1F00, 0x1FFF, "Greek"},          {0x2000, 0x2BFF, "Common"},
    {0x2E80, 0x2FDF, "Han"},           {0x3000, 0x303F, "Common"},         {0x3040, 0x30FF, "Kana"},
    {0x3130, 0x318F, "Hangul"},        {0x3400, 0x4DBF, "Han"},            {0x4E00, 0x9FFF, "Han"},
    {0xAC00, 0xD7AF, "Hangul"},        {0xF900, 0xFAFF, "Han"},            {0xFF00, 0xFFEF, "Common"},
    {0x1F000, 0x1FAFF, "Symbols"},     {0x20000, 0x2FFFF, "Han"},
};

// Decodes one UTF-8 sequence at p (n bytes available); returns its length, 0 if invalid.
int decode_utf8(const uint8_t* p, std::size_t n, uint32_t* cp) {
  const uint8_t b = p[0];
  if (b < 0x80) return *cp = b, 1;
  int len;
  uint32_t min;
  if ((b & 0xE0) == 0xC0) len = 2, *cp = b & 0x1F, min = 0x80;
  else if ((b & 0xF0) == 0xE0) len = 3, *cp = b & 0x0F, min = 0x800;
  else if ((b & 0xF8) == 0xF0) len = 4, *cp = b & 0x07, min = 0x10000;
  else return 0;
  if (n < static_cast<std::size_t>(len)) return 0;
  for (int i = 1; i < len; ++i) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (p[i] & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

const char* script_of(uint32_t cp) {
  const auto* end = std::end(kScripts);
  const auto* it = std::upper_bound(std::begin(kScripts), end, cp,
                                    [](uint32_t c, const ScriptRange& r) { return c < r.first; });
  if (it == std::begin(kScripts)) return "Other";
  --it;
  return cp <= it->last ? it->name : "Other";
}

double CorpusStats::unigram_entropy_bits() const {
  double h = 0.0;
  for (const uint64_t c : byte_counts) {
    if (c == 0) continue;
    const double p = double(c) / double(bytes);
    h -= p * std::log2(p);
  }
  return h;
}

void CorpusStats::merge(const CorpusStats& o) {
  if (o.docs == 0) return;
  min_doc_bytes = docs ? std::min(min_doc_bytes, o.min_doc_bytes) : o.min_doc_bytes;
  max_doc_bytes = std::max(max_doc_bytes, o.max_doc_bytes);
  docs += o.docs;
  bytes += o.bytes;
  chars += o.chars;
  invalid_utf8_bytes += o.invalid_utf8_bytes;
  for (int i = 0; i < 256; ++i) byte_counts[i] += o.byte_counts[i];
  std::map<std::string, uint64_t> scripts(script_chars.begin(), script_chars.end());
  for (const auto& [name, n] : o.script_chars) scripts[name] += n;
  script_chars.assign(scripts.begin(), scripts.end());
  std::stable_sort(script_chars.begin(), script_chars.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
}

CorpusStats compute_stats(const ShardSet& shards) {
  CorpusStats total;
  Progress progress("stats", shards.num_bytes());
  uint64_t done = 0;
  for (const auto& shard : shards.shards()) {
    CorpusStats s;
    std::map<const char*, uint64_t> scripts;  // keyed by the interned names of kScripts
    s.docs = shard->num_docs();
    for (uint64_t d = 0; d < shard->num_docs(); ++d) {
      const uint64_t n = shard->doc_size(d);
      s.min_doc_bytes = d == 0 ? n : std::min(s.min_doc_bytes, n);
      s.max_doc_bytes = std::max(s.max_doc_bytes, n);
    }
    const std::string_view payload = shard->payload();
    const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
    const std::size_t size = payload.size();
    s.bytes = size;
    for (std::size_t i = 0; i < size; ++i) ++s.byte_counts[p[i]];
    for (std::size_t i = 0; i < size;) {
      uint32_t cp = 0;
      const int len = decode_utf8(p + i, size - i, &cp);
      if (len == 0) {
        ++s.invalid_utf8_bytes;
        ++i;
        continue;
      }
      ++s.chars;
      ++scripts[script_of(cp)];
      i += len;
      if ((i & 0xFFFFFF) < static_cast<std::size_t>(len)) progress.update(done + i);
    }
    for (const auto& [name, n] : scripts) s.script_chars.emplace_back(name, n);
    total.merge(s);
    done += size;
  }
  progress.finish();
  return total;
}

std::string format_stats(const std::string& name, const CorpusStats& s) {
  std::string out = fmt::format("{}\n", name);
  out += fmt::format("  documents           {}\n", s.docs);
  out += fmt::format("  bytes               {} ({})\n", s.bytes, human_bytes(double(s.bytes)));
  out += fmt::format("  bytes per document  mean {:.1f}, min {}, max {}\n", s.mean_doc_bytes(), s.min_doc_bytes,
                     s.max_doc_bytes);
  out += fmt::format("  byte-unigram entropy {:.4f} bits/byte\n", s.unigram_entropy_bits());
  out += fmt::format("  characters          {} ({:.3f} bytes/char), invalid UTF-8 bytes {}\n", s.chars,
                     s.chars ? double(s.bytes - s.invalid_utf8_bytes) / double(s.chars) : 0.0, s.invalid_utf8_bytes);
  out += "  script mix (share of characters):\n";
  for (const auto& [script, n] : s.script_chars)
    out += fmt::format("    {:<12} {:6.2f}%  {}\n", script, 100.0 * double(n) / double(s.chars), n);
  return out;
}

std::string stats_json(const CorpusStats& s) {
  nlohmann::json scripts = nlohmann::json::object();
  for (const auto& [script, n] : s.script_chars) scripts[script] = n;
  return nlohmann::json{{"documents", s.docs},
                        {"bytes", s.bytes},
                        {"mean_doc_bytes", s.mean_doc_bytes()},
                        {"min_doc_bytes", s.min_doc_bytes},
                        {"max_doc_bytes", s.max_doc_bytes},
                        {"unigram_entropy_bits_per_byte", s.unigram_entropy_bits()},
                        {"characters", s.chars},
                        {"invalid_utf8_bytes", s.invalid_utf8_bytes},
                        {"script_characters", scripts}}
      .dump(2);
}

}  // namespace blt::data
