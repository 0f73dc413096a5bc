// Turns raw inputs into documents: plain-text files, directories of them, and
// JSON lines with a text field, each optionally gzip'd. Streams: memory stays
// bounded by the largest document (capped by max_doc_bytes), whatever the input size.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace blt::data {

struct SourceOptions {
  std::string format = "auto";     // auto (by extension: .jsonl/.json[.gz] = jsonl), text, jsonl
  std::string text_field = "text";  // jsonl: the field holding the document
  std::string doc_split = "file";   // text: file (one document per file), blank-line (paragraphs), line
  uint64_t max_doc_bytes = 64ull << 20;  // longer documents are cut at a line end before this size
  // Files that look binary (a NUL byte, or mostly invalid UTF-8, in their first 8 KiB)
  // are left out of directory walks and refused as named inputs, unless this is set.
  bool keep_binary = false;
};

// Binary files a directory walk left out.
struct SkippedFiles {
  uint64_t files = 0, bytes = 0;
  std::vector<std::string> examples;  // the first few paths
};

class DocumentSource {
 public:
  // Expands directories (recursively, sorted, hidden files skipped, binary files
  // skipped unless keep_binary); fails on a missing path or a binary named file.
  DocumentSource(const std::vector<std::string>& inputs, SourceOptions options);

  const std::vector<std::string>& files() const { return files_; }
  const SkippedFiles& skipped_binary() const { return skipped_binary_; }
  uint64_t total_file_bytes() const { return total_bytes_; }
  // Calls emit(document) for every non-empty document in input order; `progress`
  // gets the number of input (on-disk) bytes consumed so far.
  void for_each(const std::function<void(std::string_view)>& emit,
                const std::function<void(uint64_t)>& progress) const;

 private:
  void read_text(const std::string& path, const std::function<void(std::string_view)>& emit,
                 const std::function<void(uint64_t)>& file_progress) const;
  void read_jsonl(const std::string& path, const std::function<void(std::string_view)>& emit,
                  const std::function<void(uint64_t)>& file_progress) const;
  std::vector<std::string> files_;
  uint64_t total_bytes_ = 0;
  SkippedFiles skipped_binary_;
  SourceOptions options_;
};

}  // namespace blt::data
