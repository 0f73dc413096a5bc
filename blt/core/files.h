// File helpers for outputs that must never be seen half-written. Every failure
// names the file and the system's reason ("No space left on device").
#pragma once
#include <cstddef>
#include <string>

namespace blt {

// A file written under a temporary name in the directory of `path` and renamed
// over it by commit(), fsync'd on the way: readers see the old file or the new
// one, never a mix. Destroyed without commit() (an exception), it removes the
// temporary file.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, std::size_t size);
  void commit();
  const std::string& temp_path() const { return temp_; }

 private:
  std::string path_, temp_;
  int fd_ = -1;
};

void write_file_atomic(const std::string& path, const std::string& contents);
std::string read_text_file(const std::string& path);
// rename(2) that fails naming both paths and the reason.
void rename_file(const std::string& from, const std::string& to);
// fsync of a directory, so that a rename inside it survives a crash.
void sync_directory(const std::string& path);

}  // namespace blt
