#include "blt/data/text_sources.h"

#include <zlib.h>

#include <algorithm>
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
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file_, &code);
      fail("input '{}' is corrupt near byte {}: {}", path_, offset(), message);
    }
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
      files_.insert(files_.end(), found.begin(), found.end());
    } else {
      files_.push_back(input);
    }
  }
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
