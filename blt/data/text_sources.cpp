#include "blt/data/text_sources.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "blt/core/error.h"

namespace blt::data {
namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Reads lines from a plain or gzip'd file (zlib reads both) in 1 MiB chunks.
class LineReader {
 public:
  explicit LineReader(std::string path) : path_(std::move(path)) {
    file_ = gzopen(path_.c_str(), "rb");
    if (!file_) fail("cannot open input '{}': {}", path_, std::strerror(errno));
    gzbuffer(file_, 1 << 20);
  }
  ~LineReader() { gzclose(file_); }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line without its '\n' (a trailing '\r' is kept: bytes are data); false at the end.
  // A line longer than `limit` is returned in pieces of `limit` bytes with *complete = false.
  bool next(std::string& line, uint64_t limit, bool* complete) {
    line.clear();
    *complete = true;
    for (;;) {
      if (pos_ == end_ && !refill()) return !line.empty();
      const char* start = buffer_.data() + pos_;
      const auto* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - pos_));
      const std::size_t take = nl ? static_cast<std::size_t>(nl - start) : end_ - pos_;
      if (line.size() + take > limit) {
        const std::size_t part = limit - line.size();
        line.append(start, part);
        pos_ += part;
        *complete = false;
        return true;
      }
      line.append(start, take);
      pos_ += take;
      if (nl) {
        ++pos_;
        ++line_number_;
        return true;
      }
    }
  }
  uint64_t line_number() const { return line_number_; }
  // Bytes of the file on disk consumed so far (compressed bytes for .gz).
  uint64_t offset() const { return static_cast<uint64_t>(gzoffset(file_)); }

 private:
  bool refill() {
    buffer_.resize(1 << 20);
    const int n = gzread(file_, buffer_.data(), static_cast<unsigned>(buffer_.size()));
    int code = Z_OK;
    const char* message = gzerror(file_, &code);
    if (n < 0) fail("input '{}' is corrupt near byte {}: {}", path_, offset(), message);
    // zlib returns what it could inflate from a cut-off stream and flags it only as
    // Z_BUF_ERROR: without this check a truncated .gz reads as a shorter document.
    if (code == Z_BUF_ERROR)
      fail("input '{}' is truncated: the file ends at byte {} inside a gzip stream (no end marker)", path_,
           fs::file_size(path_));
    pos_ = 0;
    end_ = static_cast<std::size_t>(n);
    return n > 0;
  }
  std::string path_;
  gzFile file_;
  std::vector<char> buffer_;
  std::size_t pos_ = 0, end_ = 0;
  uint64_t line_number_ = 0;
};

// Bytes of `sample` outside well-formed UTF-8 sequences (overlong and surrogate forms
// are not told apart: this only separates text from binary). A sequence cut off by
// the end of the sample counts as well-formed.
std::size_t invalid_utf8_bytes(std::string_view sample) {
  std::size_t invalid = 0;
  for (std::size_t i = 0; i < sample.size();) {
    const auto lead = static_cast<unsigned char>(sample[i]);
    const std::size_t length = lead < 0x80 ? 1 : lead < 0xC2 ? 0 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : lead < 0xF5 ? 4 : 0;
    std::size_t have = length ? 1 : 0;
    while (have && have < length && i + have < sample.size() &&
           (static_cast<unsigned char>(sample[i + have]) & 0xC0) == 0x80)
      ++have;
    if (length && (have == length || i + have == sample.size())) {
      i += have;
    } else {
      ++invalid;
      ++i;
    }
  }
  return invalid;
}

// Why the file at `path` looks binary (from its first 8 KiB, decompressed for .gz),
// or empty when it looks like text. Like git and grep, a NUL byte means binary; so
// does a sample mostly outside UTF-8. Text in a legacy 8-bit encoding has invalid
// bytes only at its non-ASCII letters, well under half of them in Latin scripts.
std::string binary_reason(const std::string& path) {
  constexpr std::size_t kSampleBytes = 8192;
  constexpr double kMaxInvalidShare = 0.5;
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) fail("cannot open input '{}': {}", path, std::strerror(errno));
  std::string sample(kSampleBytes, '\0');
  const int n = gzread(file, sample.data(), static_cast<unsigned>(sample.size()));
  gzclose(file);
  if (n <= 0) return "";  // empty, or a corrupt .gz that the reader reports with its offset
  sample.resize(static_cast<std::size_t>(n));
  if (const auto nul = sample.find('\0'); nul != std::string::npos) return fmt::format("a NUL byte at offset {}", nul);
  const double invalid = double(invalid_utf8_bytes(sample)) / double(sample.size());
  if (invalid > kMaxInvalidShare)
    return fmt::format("{:.0f}% of its first {} bytes are not UTF-8", 100 * invalid, sample.size());
  return "";
}

bool is_blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

}  // namespace

DocumentSource::DocumentSource(const std::vector<std::string>& inputs, SourceOptions options)
    : options_(std::move(options)) {
  if (inputs.empty()) fail("no inputs given");
  if (options_.format != "auto" && options_.format != "text" && options_.format != "jsonl")
    fail("unknown input format '{}' (auto, text or jsonl)", options_.format);
  if (options_.doc_split != "file" && options_.doc_split != "blank-line" && options_.doc_split != "line")
    fail("unknown document split '{}' (file, blank-line or line)", options_.doc_split);
  if (options_.max_doc_bytes < 1024) fail("max_doc_bytes must be at least 1024");
  for (const auto& input : inputs) {
    if (!fs::exists(input)) fail("input '{}' does not exist", input);
    if (fs::is_directory(input)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(input); it != fs::recursive_directory_iterator(); ++it) {
        const std::string name = it->path().filename().string();
        if (!name.empty() && name[0] == '.') {
          if (it->is_directory()) it.disable_recursion_pending();
          continue;
        }
        if (it->is_regular_file()) found.push_back(it->path().string());
      }
      std::sort(found.begin(), found.end());
      for (const auto& path : found) {
        if (!options_.keep_binary && !binary_reason(path).empty()) {
          constexpr std::size_t kExamples = 5;
          ++skipped_binary_.files;
          skipped_binary_.bytes += fs::file_size(path);
          if (skipped_binary_.examples.size() < kExamples) skipped_binary_.examples.push_back(path);
          continue;
        }
        files_.push_back(path);
      }
    } else {
      // A file named on its own is meant to be read: a binary one is a mistake to report, not to skip.
      if (!options_.keep_binary) {
        if (const std::string reason = binary_reason(input); !reason.empty())
          fail("input '{}' looks binary ({}); pass --keep-binary to read it as text anyway", input, reason);
      }
      files_.push_back(input);
    }
  }
  if (files_.empty() && skipped_binary_.files > 0)
    fail("inputs {} contain only binary files ({}, e.g. {}); pass --keep-binary to read them as text",
         fmt::join(inputs, ", "), skipped_binary_.files, skipped_binary_.examples.front());
  if (files_.empty()) fail("inputs {} contain no files", fmt::join(inputs, ", "));
  for (const auto& f : files_) total_bytes_ += fs::file_size(f);
}

void DocumentSource::for_each(const std::function<void(std::string_view)>& emit,
                              const std::function<void(uint64_t)>& progress) const {
  uint64_t before = 0;
  for (const auto& path : files_) {
    const auto file_progress = [&](uint64_t offset) { progress(before + offset); };
    const bool jsonl = options_.format == "jsonl" ||
                       (options_.format == "auto" && (ends_with(path, ".jsonl") || ends_with(path, ".jsonl.gz") ||
                                                      ends_with(path, ".json") || ends_with(path, ".json.gz")));
    if (jsonl) {
      read_jsonl(path, emit, file_progress);
    } else {
      read_text(path, emit, file_progress);
    }
    before += fs::file_size(path);
    progress(before);
  }
}

void DocumentSource::read_text(const std::string& path, const std::function<void(std::string_view)>& emit,
                               const std::function<void(uint64_t)>& file_progress) const {
  LineReader reader(path);
  std::string doc, line;
  const uint64_t limit = options_.max_doc_bytes;
  const auto flush = [&] {
    while (!doc.empty() && doc.back() == '\n') doc.pop_back();
    if (!is_blank(doc)) emit(doc);
    doc.clear();
  };
  bool complete = true;
  while (reader.next(line, limit, &complete)) {
    if (options_.doc_split == "line") {
      if (!is_blank(line)) emit(line);
    } else if (options_.doc_split == "blank-line" && complete && is_blank(line)) {
      flush();
    } else {
      // Keep the document under the cap: cut before the line that would cross it.
      if (doc.size() + line.size() + 1 > limit) flush();
      doc += line;
      if (complete) doc += '\n';
    }
    if ((reader.line_number() & 0x3FFF) == 0) file_progress(reader.offset());
  }
  flush();
}

void DocumentSource::read_jsonl(const std::string& path, const std::function<void(std::string_view)>& emit,
                                const std::function<void(uint64_t)>& file_progress) const {
  LineReader reader(path);
  std::string line;
  bool complete = true;
  // A JSON line may be longer than a document (escapes); allow generous headroom.
  const uint64_t line_limit = 8 * options_.max_doc_bytes;
  while (reader.next(line, line_limit, &complete)) {
    const uint64_t number = reader.line_number() + (complete ? 0 : 1);
    if (!complete) fail("{}:{}: JSON line longer than {} bytes", path, number, line_limit);
    if (is_blank(line)) continue;
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      fail("{}:{}: invalid JSON at column {}: {}", path, number, e.byte, e.what());
    }
    if (!record.is_object()) fail("{}:{}: expected a JSON object", path, number);
    const auto field = record.find(options_.text_field);
    if (field == record.end()) fail("{}:{}: no field '{}'", path, number, options_.text_field);
    if (!field->is_string()) fail("{}:{}: field '{}' is not a string", path, number, options_.text_field);
    const std::string& text = field->get_ref<const std::string&>();
    for (std::size_t start = 0; start < text.size();) {  // cut oversized documents at line ends
      std::size_t end = std::min<std::size_t>(text.size(), start + options_.max_doc_bytes);
      if (end < text.size()) {
        const auto nl = text.rfind('\n', end - 1);
        if (nl != std::string::npos && nl > start) end = nl + 1;
      }
      emit(std::string_view(text).substr(start, end - start));
      start = end;
    }
    if ((number & 0xFFF) == 0) file_progress(reader.offset());
  }
}

}  // namespace blt::data
